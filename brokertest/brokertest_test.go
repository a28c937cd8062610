package brokertest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/units"
)

// The suite is tested the way it tests drivers: each check must fail a
// driver that breaks the rule it checks. The broken drivers are the memory
// broker with a fault knob, or wrapped to misbehave.

// faulty wraps a driver: completions and deliveries pass through the hooks.
type faulty struct {
	broker.Driver
	complete func(m *broker.Message, o broker.Outcome, err error, next broker.Completion)
	handle   func(d *broker.Delivery, next broker.Handler) error
	backlog  func() (int64, error)
}

func (f *faulty) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	if f.complete != nil {
		next := o.OnComplete
		o.OnComplete = func(m *broker.Message, out broker.Outcome, err error) { f.complete(m, out, err, next) }
	}
	return f.Driver.NewProducer(ctx, o)
}

func (f *faulty) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	c, err := f.Driver.NewConsumer(ctx, o)
	if err != nil || f.handle == nil {
		return c, err
	}
	return &faultyConsumer{Consumer: c, handle: f.handle}, nil
}

func (f *faulty) Backlog(ctx context.Context) (int64, error) {
	if f.backlog != nil {
		return f.backlog()
	}
	return f.Driver.(broker.Backlogger).Backlog(ctx)
}

type faultyConsumer struct {
	broker.Consumer
	handle func(d *broker.Delivery, next broker.Handler) error
}

// swallowed, returned by a handle hook, acknowledges the delivery and ends
// Run with the handler's error, as a driver that acks failures would.
type swallowed struct{ err error }

func (s swallowed) Error() string { return s.err.Error() }

func (c *faultyConsumer) Run(ctx context.Context, h broker.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var failed error
	err := c.Consumer.Run(ctx, func(d *broker.Delivery) error {
		err := c.handle(d, h)
		var sw swallowed
		if errors.As(err, &sw) {
			failed = sw.err
			cancel()
			return nil
		}
		return err
	})
	if failed != nil {
		return failed
	}
	return err
}

// harness opens memory brokers with cfg, wrapped by wrap.
func harness(cfg memory.Config, wrap func(*faulty)) Harness {
	return Harness{
		Open: func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
			c := cfg
			t, err := memory.Open(ctx, &c, spec, env)
			if err != nil || wrap == nil {
				return t, err
			}
			f := &faulty{Driver: t.Driver}
			wrap(f)
			t.Driver = f
			return t, nil
		},
		Caps: Caps{Unsupported: map[string]string{CapRestart: "test", CapSecrets: "test"}},
	}
}

func TestChecksCatchBrokenDrivers(t *testing.T) {
	slow := memory.Config{AckLatency: units.Duration(20 * time.Millisecond)}
	// Checks that must wait for something that never comes get a short
	// time to find that out.
	const short = 3 * time.Second
	cases := []struct {
		name    string
		check   func(context.Context, *rig) []string
		h       Harness
		says    string
		timeout time.Duration
	}{
		{"a completion twice", checkCompletionOnce, harness(memory.Config{}, func(f *faulty) {
			f.complete = func(m *broker.Message, o broker.Outcome, err error, next broker.Completion) {
				next(m, o, err)
				if m.Seq == 7 {
					next(m, o, err)
				}
			}
		}), "completed more than once", 0},
		{"a completion lost", checkCompletionOnce, harness(memory.Config{}, func(f *faulty) {
			f.complete = func(m *broker.Message, o broker.Outcome, err error, next broker.Completion) {
				if m.Seq != 7 {
					next(m, o, err)
				}
			}
		}), "completed, 1000 published", 0},
		{"in-flight reported failed at Close", checkCloseIndeterminate, harness(slow, func(f *faulty) {
			f.complete = func(m *broker.Message, o broker.Outcome, err error, next broker.Completion) {
				if o == broker.Indeterminate {
					o = broker.Failed
				}
				next(m, o, err)
			}
		}), "completed Failed", 0},
		{"in-flight forgotten at Close", checkCloseIndeterminate, harness(slow, func(f *faulty) {
			f.complete = func(m *broker.Message, o broker.Outcome, err error, next broker.Completion) {
				if o == broker.Acked {
					next(m, o, err)
				}
			}
		}), "not completed when Close returned", 0},
		{"a failed handler's delivery acknowledged", checkCrashRedelivers, harness(memory.Config{}, func(f *faulty) {
			f.handle = func(d *broker.Delivery, next broker.Handler) error {
				if err := next(d); err != nil {
					return swallowed{err}
				}
				return nil
			}
		}), "was not delivered again", short},
		{"no redelivery flag", checkRejectRedelivered, harness(memory.Config{}, func(f *faulty) {
			f.handle = func(d *broker.Delivery, next broker.Handler) error {
				d.Redelivered = false
				return next(d)
			}
		}), "without the Redelivered flag", 0},
		{"a delivery handle for a position", checkRejectRedelivered, harness(memory.Config{}, func(f *faulty) {
			var handle atomic.Uint64
			f.handle = func(d *broker.Delivery, next broker.Handler) error {
				d.Position, d.HasPosition = handle.Add(1), true
				return next(d)
			}
		}), "must keep its storage position", 0},
		{"a crash redelivery at another position", checkCrashRedelivers, harness(memory.Config{}, func(f *faulty) {
			var handle atomic.Uint64
			f.handle = func(d *broker.Delivery, next broker.Handler) error {
				d.Position, d.HasPosition = handle.Add(1), true
				return next(d)
			}
		}), "must keep its storage position", short},
		{"reordered", checkOrdering, harness(memory.Config{Faults: memory.Faults{Reorder: 3, Window: 100}}, nil), "out of order", 0},
		{"no domain", checkOrdering, harness(memory.Config{}, func(f *faulty) {
			f.handle = func(d *broker.Delivery, next broker.Handler) error {
				d.Domain = ""
				return next(d)
			}
		}), "name no ordering domain", 0},
		{"a subscription misses messages", checkPubSub, harness(memory.Config{Faults: memory.Faults{Drop: 2, Window: 50}}, nil), "never got 2 messages", short},
		{"backlog guessed 0", checkBacklog, harness(memory.Config{}, func(f *faulty) {
			f.backlog = func() (int64, error) { return 0, nil }
		}), "Backlog said 0", 0},
		{"backlog never 0", checkBacklog, harness(memory.Config{}, func(f *faulty) {
			f.backlog = func() (int64, error) { return 1, nil }
		}), "never came to 0", short},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			ps := tc.check(ctx, newRig(t, tc.h))
			if !strings.Contains(strings.Join(ps, "\n"), tc.says) {
				t.Errorf("problems %q, want one saying %q", ps, tc.says)
			}
		})
	}
}

func TestSecretsCheckCatchesALeak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := Harness{OpenWithSecret: func(_ context.Context, secret string, _ broker.Env) (*broker.Target, error) {
		return nil, errors.New("dial amqp://u:" + secret + "@127.0.0.1:1/: connection refused")
	}}
	if ps := checkSecrets(ctx, newRig(t, h)); len(ps) != 1 || !strings.Contains(ps[0], "<SECRET>") || strings.Contains(ps[0], "s3cret-") {
		t.Errorf("problems %q, want the leak reported with the secret masked", ps)
	}
}

func TestHarnessDeclarations(t *testing.T) {
	open := func(context.Context, broker.Spec, broker.Env) (*broker.Target, error) { return nil, nil }
	for _, tc := range []struct {
		h    Harness
		says string
	}{
		{Harness{}, "Open is required"},
		{Harness{Open: open}, "OpenRestartable or declare restart"},
		{Harness{Open: open, Caps: Caps{Unsupported: map[string]string{CapRestart: "x", CapSecrets: "x", "teleport": "x"}}}, "unknown capability"},
		{Harness{Open: open, Caps: Caps{Unsupported: map[string]string{CapRestart: "", CapSecrets: "x"}}}, "without a reason"},
	} {
		if err := tc.h.validate(); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("validate: %v, want %q", err, tc.says)
		}
	}
}

// pretendRestarter restarts nothing: Stop only tells the consumer hook
// that "the broker went down".
type pretendRestarter struct{ down *atomic.Bool }

func (p pretendRestarter) Nodes() int                            { return 1 }
func (p pretendRestarter) Stop(context.Context, int, bool) error { p.down.Store(true); return nil }
func (p pretendRestarter) Start(context.Context, int) error      { return nil }

// TestRestartCheckCatchesAConsumerThatNeverReturns: a consumer that
// receives nothing after the restart (it never reconnected, or lost its
// subscription) fails the check, and a healthy one passes it.
func TestRestartCheckCatchesAConsumerThatNeverReturns(t *testing.T) {
	for _, broken := range []bool{true, false} {
		var down atomic.Bool
		h := harness(memory.Config{}, func(f *faulty) {
			f.handle = func(d *broker.Delivery, next broker.Handler) error {
				if broken && down.Load() {
					return nil // gone: nothing reaches the test
				}
				return next(d)
			}
		})
		open := h.Open
		h.OpenRestartable = func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
			tgt, err := open(ctx, spec, env)
			if err == nil {
				tgt.Restarter = pretendRestarter{&down}
			}
			return tgt, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		ps := checkRestart(ctx, newRig(t, h))
		cancel()
		switch {
		case broken && (len(ps) != 1 || !strings.Contains(ps[0], "received none of")):
			t.Errorf("a consumer that never came back: want one problem saying it received none, got %q", ps)
		case !broken && len(ps) > 0:
			t.Errorf("a healthy consumer: want no problem, got %q", ps)
		}
	}
}
