package rabbitmq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestCrashRedelivers: a consumer whose handler gives up on a delivery and
// is then crashed never acknowledges it; the broker delivers it again to
// the next consumer, flagged redelivered.
func TestCrashRedelivers(t *testing.T) {
	tgt := openShared(t, scenario(t, "crash", func(s *scenarios.Scenario) { s.Consumers.Count = 1 }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publishOne(t, ctx, tgt.Driver)

	errDying := errors.New("process killed")
	c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{ID: 0})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(ctx, func(*broker.Delivery) error { return errDying })
	if !errors.Is(err, errDying) {
		t.Fatalf("Run: %v, want the handler's error", err)
	}
	if err := c.(broker.Crasher).Crash(); err != nil {
		t.Fatal(err)
	}

	next, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	got := make(chan broker.Delivery, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- next.Run(runCtx, func(d *broker.Delivery) error {
			select {
			case got <- broker.Delivery{Redelivered: d.Redelivered, Domain: d.Domain}:
			default:
			}
			return nil
		})
	}()
	select {
	case d := <-got:
		if !d.Redelivered {
			t.Errorf("delivered again without the redelivered flag: %+v", d)
		}
	case <-ctx.Done():
		t.Fatal("the crashed consumer's message was not delivered again")
	}
	stop()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
