package swarm

import (
	"bytes"
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/units"
)

// fleetConfig is a fleet: 200 producers at 4000/s in total for a second
// (20 messages each), which lanes drive unless lanes says otherwise.
func fleetConfig(lanes, window int) Config {
	return Config{RunID: 7, Seed: 3, Producers: 200, Consumers: 2, Subscriptions: 1, Rate: 4000,
		Duration: time.Second, MessageSize: 64, MaxInFlight: window, Lanes: lanes}
}

// startFleet makes a swarm of cfg on a fresh memory broker of mem (or
// the driver wrap makes of it) and starts its consumers; the swarm and the
// broker close at cleanup. The context bounds the test.
func startFleet(t *testing.T, cfg Config, mem memory.Config, wrap func(broker.Driver) broker.Driver) (*Swarm, context.Context) {
	t.Helper()
	b, ctx := memBroker(t, mem)
	var d broker.Driver = b
	if wrap != nil {
		d = wrap(b)
	}
	sw := New(cfg, d, nil)
	t.Cleanup(sw.Close)
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	return sw, ctx
}

// TestFleetKnownAnswer: a fleet's known answer on lanes, on lanes whose
// producers all go alone (each window of 1 is still in flight when its
// next send is due: a 60 ms ack latency at a send every 50 ms), and with
// every producer alone from the start: the checker counts the injected
// drops, duplicates and reorders exactly, and every intended send is made,
// but where the window cannot keep up (one send per 60 ms): those not made
// are counted not sent.
func TestFleetKnownAnswer(t *testing.T) {
	faults := memory.Faults{Window: 500, Drop: 7, Duplicate: 5, Reorder: 6}
	for _, tc := range []struct {
		name          string
		lanes, window int
		ackLatency    time.Duration
	}{
		{"lanes", 0, 1000, 0},
		{"lanes, each window full", 0, 1, 60 * time.Millisecond},
		{"two lanes forced", 2, 1000, 0},
		{"alone", -1, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.Config{Partitions: 4, Faults: faults, AckLatency: units.Duration(tc.ackLatency)}
			res := runMemory(t, fleetConfig(tc.lanes, tc.window), mem, 11)
			c := res.Counts
			sent := uint64(4000)
			if tc.window == 1 {
				// About 17 sends of each producer's 20 fit in the second.
				sent = c.Sent
				if c.Sent+c.NotSent != 4000 || c.NotSent < 400 || c.NotSent > 1200 {
					t.Errorf("sent %d, not sent %d: want 4000 intended, 400-1200 of them not sent", c.Sent, c.NotSent)
				}
			}
			want := checker.Counts{Sent: sent, Acked: sent, Lost: 7, Duplicated: 5, Reordered: 6,
				Unique: sent - 7, Received: sent - 7 + 5}
			got := checker.Counts{Sent: c.Sent, Acked: c.Acked, Lost: c.Lost, Duplicated: c.Duplicated,
				Reordered: c.Reordered, Unique: c.Unique, Received: c.Received}
			if got != want || c.Unexpected != 0 || c.Corrupted != 0 || c.Indeterminate != 0 {
				t.Errorf("counts\n got %+v\nwant %+v", c, want)
			}
		})
	}
}

// TestLanesEndLoad: a load ended early (find-max found its answer) makes,
// on lanes as alone, exactly the sends due before the new end, late if
// need be, and none after it.
func TestLanesEndLoad(t *testing.T) {
	for _, lanes := range []int{0, -1} {
		cfg := fleetConfig(lanes, 1000)
		cfg.Duration = 3 * time.Second
		sw, ctx := startFleet(t, cfg, memory.Config{}, nil)
		go func() {
			time.Sleep(700 * time.Millisecond)
			sw.EndLoad()
		}()
		if err := sw.Produce(ctx); err != nil {
			t.Fatal(err)
		}
		if dr := sw.Drain(ctx, 30*time.Second, 100*time.Millisecond); !dr.Drained {
			t.Fatalf("lanes %d: drain: %s", lanes, dr.Reason)
		}
		sw.Close()
		due := sw.cfg.Pacer.Hits(time.Duration(sw.load.end.Load() - sw.load.start.Load()))
		tot := sw.Collector().Totals()
		if tot.Sent != due || tot.NotSent != 0 || tot.Received != due {
			t.Errorf("lanes %d: sent %d, not sent %d, received %d: want the %d due before the end sent and received",
				lanes, tot.Sent, tot.NotSent, tot.Received, due)
		}
		if due < 2000 || due > 3000 {
			t.Errorf("lanes %d: %d sends due before the end at 0.7 s of 4000/s", lanes, due)
		}
	}
}

// TestLanesCanceled: a run canceled mid-load counts what it did not send
// as not sent, on lanes as alone: every send due before the cancel is
// sent or counted, and none long after it. From 0.4 s on, each Publish
// waits for the cancel (at 0.5 s) and fails with it, so that sends are
// due and not made when it comes: a lane that is on time when canceled
// has nothing due left to count.
func TestLanesCanceled(t *testing.T) {
	for _, lanes := range []int{0, -1} {
		var armed atomic.Bool
		sw, ctx := startFleet(t, fleetConfig(lanes, 1000), memory.Config{}, func(b broker.Driver) broker.Driver {
			return wrappedDriver{b, func(p broker.Producer) broker.Producer { return &holdProducer{p, &armed} }}
		})
		load, stop := context.WithCancel(ctx)
		start := sw.clock.Now()
		var stopAt int64
		go func() {
			time.Sleep(400 * time.Millisecond)
			armed.Store(true)
			time.Sleep(100 * time.Millisecond)
			stopAt = sw.clock.Now()
			stop()
		}()
		_ = sw.ProduceFrom(load, start)
		returned := sw.clock.Now()
		sw.Drain(ctx, 10*time.Second, 100*time.Millisecond)
		sw.Close()
		p := sw.cfg.Pacer
		lo, hi := p.Hits(time.Duration(stopAt-start)), p.Hits(time.Duration(returned-start))
		tot := sw.Collector().Totals()
		if n := tot.Sent + tot.NotSent; n < lo || n > hi || tot.NotSent == 0 {
			t.Errorf("lanes %d: sent %d + not sent %d = %d: want between %d (due by the cancel) and %d (by the return), some not sent",
				lanes, tot.Sent, tot.NotSent, n, lo, hi)
		}
	}
}

// wrappedDriver is a driver whose producers are wrap's wrappers of its
// own.
type wrappedDriver struct {
	broker.Driver
	wrap func(broker.Producer) broker.Producer
}

func (d wrappedDriver) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	p, err := d.Driver.NewProducer(ctx, o)
	if err != nil {
		return nil, err
	}
	return d.wrap(p), nil
}

// holdProducer is a producer whose Publish, once armed, waits until its
// context ends.
type holdProducer struct {
	broker.Producer
	armed *atomic.Bool
}

func (p *holdProducer) Publish(ctx context.Context, m *broker.Message) error {
	if p.armed.Load() {
		<-ctx.Done()
	}
	return p.Producer.Publish(ctx, m)
}

// TestLanesCrashProducer: a producer driven by a lane crashes when asked
// (it goes on alone, from its next send), and the fleet's run loses
// nothing acked.
func TestLanesCrashProducer(t *testing.T) {
	sw, ctx := startFleet(t, fleetConfig(0, 1000), memory.Config{Partitions: 2}, nil)
	crashed := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		crashed <- sw.CrashProducer(ctx, 17)
	}()
	if err := sw.Produce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-crashed; err != nil {
		t.Fatalf("crash: %v", err)
	}
	if dr := sw.Drain(ctx, 30*time.Second, 100*time.Millisecond); !dr.Drained {
		t.Fatalf("drain: %s", dr.Reason)
	}
	sw.Close()
	c := sw.Collector().Finalize(checker.Options{Drained: true, Claims: allClaims}).Counts
	if c.Sent != 4000 || c.Lost != 0 || c.Unique != 4000 || c.Acked+c.Indeterminate != 4000 {
		t.Errorf("counts %+v: want 4000 sent and received once each, none lost", c)
	}
}

// stackCounts counts the Publish calls of stackProducers by where they
// came from, a lane or not (by the caller's stack); the producers say
// PublishWaits as waits.
type stackCounts struct {
	waits        bool
	laned, onOwn atomic.Int64
}

type stackProducer struct {
	broker.Producer
	d *stackCounts
}

func (p *stackProducer) PublishWaits() bool { return p.d.waits }

func (p *stackProducer) Publish(ctx context.Context, m *broker.Message) error {
	buf := make([]byte, 8<<10)
	if bytes.Contains(buf[:runtime.Stack(buf, false)], []byte("swarm.runLane(")) {
		p.d.laned.Add(1)
	} else {
		p.d.onOwn.Add(1)
	}
	return p.Producer.Publish(ctx, m)
}

// TestPublishWaiterRunsAlone: a fleet's sends are made on lanes, but a
// producer whose Publish waits for the broker (broker.PublishWaiter: a
// transaction's commit) makes its own, so that it never holds the lane's
// other producers back.
func TestPublishWaiterRunsAlone(t *testing.T) {
	for _, waits := range []bool{false, true} {
		cfg := fleetConfig(0, 1000)
		cfg.Duration = 300 * time.Millisecond
		d := &stackCounts{waits: waits}
		sw, ctx := startFleet(t, cfg, memory.Config{}, func(b broker.Driver) broker.Driver {
			return wrappedDriver{b, func(p broker.Producer) broker.Producer { return &stackProducer{p, d} }}
		})
		if err := sw.Produce(ctx); err != nil {
			t.Fatal(err)
		}
		sw.Drain(ctx, 10*time.Second, 0)
		sw.Close()
		laned, own := d.laned.Load(), d.onOwn.Load()
		if waits && (laned != 0 || own != 1200) || !waits && (laned != 1200 || own != 0) {
			t.Errorf("PublishWaits %v: %d publishes from lanes, %d from producers' own goroutines; want all 1,200 from %s",
				waits, laned, own, map[bool]string{false: "lanes", true: "their own"}[waits])
		}
	}
}
