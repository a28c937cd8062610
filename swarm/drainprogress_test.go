package swarm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
)

// slowConsumers is a memory broker whose consumers take each delivery
// after a pause, so a drain sees them still arriving.
type slowConsumers struct {
	failingCount
	pause time.Duration
}

func (s *slowConsumers) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	c, err := s.Broker.NewConsumer(ctx, o)
	if err != nil {
		return nil, err
	}
	return slowConsumer{c, s.pause}, nil
}

type slowConsumer struct {
	broker.Consumer
	pause time.Duration
}

func (c slowConsumer) Run(ctx context.Context, h broker.Handler) error {
	return c.Consumer.Run(ctx, func(d *broker.Delivery) error {
		time.Sleep(c.pause)
		return h(d)
	})
}

// TestDrainTimeoutSaysWhatArrived: a drain that times out says whether
// deliveries were still coming (a longer drain_timeout would help) or had
// stopped (something is stuck). The backlog count fails throughout, so
// only the timeout ends these drains.
func TestDrainTimeoutSaysWhatArrived(t *testing.T) {
	tests := []struct {
		name  string
		mem   memory.Config
		pause time.Duration
		want  string
	}{
		// Three dropped, the rest received during the load.
		{name: "stuck", mem: memory.Config{Faults: memory.Faults{Drop: 3}},
			want: "acknowledged messages not received; nothing arrived during the drain"},
		// 500 messages at 10ms each take 5s to consume: the 1s drain
		// ends among them.
		{name: "slow", pause: 10 * time.Millisecond,
			want: "deliveries arrived during the drain and were still arriving at its end (a longer drain_timeout may receive the rest)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ctx := setUpMemory(t, tt.mem, 1, 3)
			cfg := Config{RunID: 7, Seed: 5, Producers: 1, Consumers: 1, Subscriptions: 1, Rate: 2500,
				Duration: 200 * time.Millisecond, MessageSize: 64, MaxInFlight: 100}
			d := &slowConsumers{failingCount{Broker: b, err: errors.New("no count"), until: time.Now().Add(time.Hour)}, tt.pause}
			sw := New(cfg, d, nil)
			defer sw.Close()
			runLoad(ctx, t, sw)
			if tt.pause == 0 {
				// The last sends can still be on their way when the
				// load ends (a busy host, the race detector): a stuck
				// drain is one that starts once deliveries stopped.
				waitQuiet(t, sw.Collector())
			}
			dr := sw.Drain(ctx, time.Second, 0)
			if dr.Drained || !strings.Contains(dr.Reason, tt.want) {
				t.Errorf("drained %v (%s): want a timeout saying %q", dr.Drained, dr.Reason, tt.want)
			}
		})
	}
}

// waitQuiet waits (at most 10s) until c has received nothing new for 300ms.
func waitQuiet(t *testing.T, c *Collector) {
	t.Helper()
	_, last := c.Progress()
	quietSince := time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if _, got := c.Progress(); got != last {
			last, quietSince = got, time.Now()
		} else if time.Since(quietSince) >= 300*time.Millisecond {
			return
		}
	}
	t.Fatalf("deliveries still arriving after 10s (%d received)", last)
}

func TestDrainProgress(t *testing.T) {
	tests := []struct {
		n    uint64
		ago  time.Duration
		none bool
		want string
	}{
		{0, 10 * time.Second, true, "nothing arrived during the drain"},
		{1200, 300 * time.Millisecond, false, "1200 deliveries arrived during the drain and were still arriving at its end (a longer drain_timeout may receive the rest)"},
		{7, 8240 * time.Millisecond, false, "7 deliveries arrived during the drain, the last 8.2s before its end"},
	}
	for _, tt := range tests {
		if got := drainProgress(tt.n, tt.ago, tt.none); got != tt.want {
			t.Errorf("drainProgress(%d, %s, %v) = %q, want %q", tt.n, tt.ago, tt.none, got, tt.want)
		}
	}
}
