package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// publishN publishes seqs [from, to) from producer id and flushes.
func publishN(ctx context.Context, t *testing.T, p broker.Producer, id int, from, to uint64) {
	t.Helper()
	for seq := from; seq < to; seq++ {
		if err := p.Publish(ctx, message(id, seq)); err != nil {
			t.Fatalf("publish %d: %v", seq, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// TestRebalanceCommitsOnRevoke: a second consumer joins right after the
// first consumed everything, before any periodic commit; the partitions
// that move must be committed on revoke, so the newcomer re-reads nothing.
func TestRebalanceCommitsOnRevoke(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		commit, balancer string
		sasl             *SASL // the embedded cluster requires it too
	}{
		{"manual", "cooperative-sticky", nil},
		{"auto", "cooperative-sticky", nil},
		{"manual", "range", &SASL{Mechanism: "PLAIN", User: "u", Password: "p"}},
	} {
		t.Run(tc.commit+"/"+tc.balancer, func(t *testing.T) {
			t.Parallel()
			tgt := openTarget(t, testScenario(func(s *testSetup) {
				s.cfg = &Config{Brokers: 1, Partitions: 4, Partitioner: "round-robin",
					Commit: tc.commit, GroupBalancer: tc.balancer, SASL: tc.sasl}
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var ns notices
			got := newReceived()
			out := newOutcomes()
			p := newProducer(t, tgt.Driver, 0, out, &ns)
			group := groupOf(tgt, 0)

			startConsumer(t, tgt.Driver, 0, 0, got, &ns)
			if err := waitAssigned(ctx, &ns, group, 4, 1); err != nil {
				t.Fatal(err)
			}
			publishN(ctx, t, p, 0, 0, 2000)
			if err := waitFor(ctx, "first half", func() bool { return got.unique() == 2000 }); err != nil {
				t.Fatal(err)
			}
			startConsumer(t, tgt.Driver, 1, 0, got, &ns)
			publishN(ctx, t, p, 0, 2000, 4000)
			if err := waitAssigned(ctx, &ns, group, 4, 2); err != nil {
				t.Fatal(err)
			}
			publishN(ctx, t, p, 0, 4000, 5000)
			if err := waitFor(ctx, "every message", func() bool { return got.unique() == 5000 }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if d := got.duplicates(); len(d) != 0 {
				t.Errorf("%d messages delivered more than once after a rebalance", len(d))
			}
			got.mu.Lock()
			if got.reordered != 0 {
				t.Errorf("%d reordered", got.reordered)
			}
			got.mu.Unlock()
			if err := waitFor(ctx, "backlog 0", func() bool {
				n, err := tgt.Driver.(broker.Backlogger).Backlog(ctx)
				return err == nil && n == 0
			}); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRejectRedelivers: Kafka has no nack; a rejected record is sought back
// to and read again, flagged Redelivered by the driver, ahead of the records
// that followed it in its partition, and the commit never passes it.
func TestRejectRedelivers(t *testing.T) {
	t.Parallel()
	for _, commit := range []string{"manual", "auto"} {
		t.Run(commit, func(t *testing.T) {
			t.Parallel()
			tgt := openTarget(t, testScenario(func(s *testSetup) {
				s.cfg = &Config{Brokers: 1, Partitions: 2, Commit: commit,
					SASL: &SASL{Mechanism: "SCRAM-SHA-512", User: "u", Password: "p"}}
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var ns notices
			out := newOutcomes()
			p := newProducer(t, tgt.Driver, 0, out, &ns)
			publishN(ctx, t, p, 0, 0, 200)

			// accepted is what the handler took; rejects and redelivered
			// count the two halves of a requeue. The counters are read
			// after Run returned.
			accepted := newReceived()
			var rejects, redelivered, flaggedWrongly int
			c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{ID: 0, Subscription: 0})
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- c.Run(runCtx, func(d *broker.Delivery) error {
					k, err := parsePayload(d.Payload)
					if err != nil {
						return err
					}
					reject := k.seq%10 == 0
					switch {
					case d.Redelivered && !reject:
						flaggedWrongly++
					case d.Redelivered:
						redelivered++
					case reject:
						rejects++
						return broker.ErrReject
					}
					d.Redelivered = false // counted above; received checks order and count
					return accepted.handler(d)
				})
			}()
			if err := waitFor(ctx, "deliveries", func() bool { return accepted.unique() == 200 }); err != nil {
				t.Fatal(err)
			}
			if err := waitFor(ctx, "backlog 0", func() bool {
				n, err := tgt.Driver.(broker.Backlogger).Backlog(ctx)
				return err == nil && n == 0
			}); err != nil {
				t.Fatal(err)
			}
			stop()
			if err := errors.Join(<-done, c.Close()); err != nil {
				t.Fatal(err)
			}
			if rejects != 20 || redelivered != 20 || flaggedWrongly != 0 {
				t.Errorf("%d rejects, %d redelivered, %d flagged wrongly; want 20, 20, 0", rejects, redelivered, flaggedWrongly)
			}
			accepted.mu.Lock()
			if accepted.total != 200 || accepted.reordered != 0 || len(accepted.bad) != 0 {
				t.Errorf("accepted %d deliveries of 200, %d reordered, problems %v", accepted.total, accepted.reordered, accepted.bad)
			}
			accepted.mu.Unlock()

			again := newReceived()
			startConsumer(t, tgt.Driver, 1, 0, again, &ns)
			if err := waitAssigned(ctx, &ns, groupOf(tgt, 0), 2, 1); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			if n := again.unique(); n != 0 {
				t.Errorf("a later member read %d records again", n)
			}
		})
	}
}

// TestDeadLetterUnsupported: Kafka has no dead-letter queue, so Run fails.
func TestDeadLetterUnsupported(t *testing.T) {
	t.Parallel()
	tgt := openTarget(t, testScenario(func(s *testSetup) {
		s.cfg = &Config{Brokers: 1, Partitions: 1}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ns notices
	publishN(ctx, t, newProducer(t, tgt.Driver, 0, newOutcomes(), &ns), 0, 0, 1)
	c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{ID: 0, Subscription: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Run(ctx, func(*broker.Delivery) error { return broker.ErrDeadLetter })
	if err == nil || !strings.Contains(err.Error(), "no dead-letter queue") {
		t.Errorf("Run = %v, want a no dead-letter queue error", err)
	}
}
