package runner

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kinds"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/message"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// eatingDriver wraps a driver whose consumers acknowledge the deliveries
// eat picks without handing them to the swarm: those messages are acked and
// never received, lost exactly where a test wants them.
type eatingDriver struct {
	broker.Driver
	eat func(message.Header) bool
}

func (d eatingDriver) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	c, err := d.Driver.NewConsumer(ctx, o)
	if err != nil {
		return nil, err
	}
	return eatingConsumer{c, d.eat}, nil
}

// Backlog keeps the drain able to tell lost from late.
func (d eatingDriver) Backlog(ctx context.Context) (int64, error) {
	return d.Driver.(broker.Backlogger).Backlog(ctx)
}

type eatingConsumer struct {
	broker.Consumer
	eat func(message.Header) bool
}

func (c eatingConsumer) Run(ctx context.Context, h broker.Handler) error {
	return c.Consumer.Run(ctx, func(d *broker.Delivery) error {
		if hd, err := message.Decode(d.Payload); err == nil && c.eat(hd) {
			return nil
		}
		return h(d)
	})
}

// TestLowRateLossIsDatedAndAttributed: at 50 msg/s a 10 s run never leaves
// the first 1024 sequence numbers, whose send times were not interpolated:
// losses at 7 s were dated 0 s and no fault was blamed. Messages sent from
// 7.26 s to 7.64 s are lost while a producer crash at 7 s is active: their
// evidence must say ~7.x s and name the crash, and the crash's block must
// count them. (They start a quarter second after the crash: a crash that
// landed late on a loaded machine caught the first of 7.06 s in flight,
// indeterminate instead of lost.)
func TestLowRateLossIsDatedAndAttributed(t *testing.T) {
	t.Parallel()
	const first, last = 363, 382 // 50/s: intended 7.26 s .. 7.64 s after the producer started
	s := &scenarios.Scenario{
		Name:      "low-rate-dating",
		Seed:      3,
		Duration:  scenarios.Duration(10 * time.Second),
		Broker:    scenarios.Broker{Kind: "memory", Config: &memory.Config{Partitions: 1}},
		Producers: scenarios.Producers{Count: 1, Rate: 50, MessageSize: 100},
		Consumers: scenarios.Consumers{Count: 1, Subscriptions: 1},
		Claims:    []string{"at-least-once"},
		Faults:    []scenarios.Fault{{Kind: "producer-crash", At: sec(7), For: sec(1), Client: 0}},
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	ks := memoryKindWith(func(d broker.Driver) broker.Driver {
		return eatingDriver{d, func(h message.Header) bool { return h.Seq >= first && h.Seq <= last }}
	})
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := Run(ctx, Options{Scenario: s, Dir: dir, Kinds: ks,
		DrainSettle: 300 * time.Millisecond}); err != nil {
		t.Fatalf("run: %v", err)
	}
	res, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Lost != last-first+1 {
		t.Fatalf("counts %+v, want %d lost", res.Counts, last-first+1)
	}
	lost := res.Examples["lost"]
	if len(lost) != 1 || lost[0].Seq != first || lost[0].SeqEnd != last {
		t.Fatalf("lost evidence %+v, want one range %d-%d", lost, first, last)
	}
	x := lost[0]
	if sent := time.Duration(x.At - res.LoadStartNS); sent < 7*time.Second || sent >= 8*time.Second {
		t.Errorf("lost evidence dated %s after the load started, want within the 8th second (7.26 s)", sent)
	}
	if !strings.HasPrefix(x.Fault, "crash producer 0") {
		t.Errorf("lost evidence blamed on %q, want the producer crash", x.Fault)
	}
	if len(res.Faults) != 1 || res.Faults[0].Anomalies.Lost != last-first+1 {
		t.Errorf("faults %+v: want the crash's block to count the %d lost", res.Faults, last-first+1)
	}
}

// memoryKindWith is the default list of kinds with the memory kind's driver
// wrapped by wrap.
func memoryKindWith(wrap func(broker.Driver) broker.Driver) broker.Kinds {
	ks := kinds.Default()
	k, _ := ks.Lookup("memory")
	k.Open = broker.Typed(func(ctx context.Context, cfg *memory.Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		tgt, err := memory.Open(ctx, cfg, spec, env)
		if err != nil {
			return nil, err
		}
		tgt.Driver = wrap(tgt.Driver)
		return tgt, nil
	})
	return ks.With(k)
}

// failingDriver wraps a driver whose consumer number fail gives up at once
// with an error, as a consumer meeting a fetch error it cannot go on from.
type failingDriver struct {
	broker.Driver
	fail int
}

func (d failingDriver) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	c, err := d.Driver.NewConsumer(ctx, o)
	if err != nil || o.ID != d.fail {
		return c, err
	}
	return failingConsumer{c}, nil
}

type failingConsumer struct{ broker.Consumer }

func (failingConsumer) Run(context.Context, broker.Handler) error {
	return errors.New("topic authorization failed")
}

// TestConsumerThatGaveUpIsSaid: one of two consumers gives up with an
// error. The run goes on with the other, and the error is a warning in
// results.json and the summary: before, only a run whose every consumer
// failed said anything, and a drain that timed out waiting for the dead
// consumer's partitions gave no reason.
func TestConsumerThatGaveUpIsSaid(t *testing.T) {
	t.Parallel()
	s := &scenarios.Scenario{Name: "consumer-gave-up", Seed: 3, Duration: scenarios.Duration(time.Second),
		DrainTimeout: scenarios.Duration(2 * time.Second),
		Broker:       scenarios.Broker{Kind: "memory", Config: &memory.Config{}},
		Producers:    scenarios.Producers{Count: 1, Rate: 200, MessageSize: 100},
		Consumers:    scenarios.Consumers{Count: 2}, Claims: []string{"at-least-once"}}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	ks := memoryKindWith(func(d broker.Driver) broker.Driver { return failingDriver{d, 1} })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{Scenario: s, Dir: t.TempDir(), Kinds: ks, DrainSettle: 300 * time.Millisecond})
	if res == nil {
		t.Fatalf("run: %v", err)
	}
	said := 0
	for _, n := range res.Notices {
		if n.Kind == "consumer-failed" && n.Warning && strings.Contains(n.Detail, "consumer 1") &&
			strings.Contains(n.Detail, "topic authorization failed") {
			said++
		}
	}
	var text strings.Builder
	if err := report.Text(&text, res); err != nil {
		t.Fatal(err)
	}
	if said != 1 || !strings.Contains(text.String(), "topic authorization failed") {
		t.Errorf("notices %+v (run error %v): want one consumer-failed warning naming consumer 1 and its error, in the summary too:\n%s",
			res.Notices, err, text.String())
	}
}
