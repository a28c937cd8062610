package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// TestCleanRun: without faults every acked message reaches every
// subscription exactly once, in order per partition and producer, and the
// backlog drains to zero.
func TestCleanRun(t *testing.T) {
	t.Parallel()
	const (
		producers = 3
		perProd   = 2000
	)
	tgt := openTarget(t, testScenario(func(s *testSetup) {
		s.spec.Consumers, s.spec.Subscriptions = 2, 2
		// Every partition gets records, so both consumers of a group work.
		s.cfg.Partitioner = "round-robin"
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	var ns notices
	group0 := newReceived()
	group1 := newReceived()
	startConsumer(t, tgt.Driver, 0, 0, group0, &ns)
	startConsumer(t, tgt.Driver, 1, 0, group0, &ns)
	startConsumer(t, tgt.Driver, 2, 1, group1, &ns)
	// A settled group makes "exactly once" independent of rebalance timing.
	for sub, consumers := range []int{2, 1} {
		if err := waitAssigned(ctx, &ns, groupOf(tgt, sub), 6, consumers); err != nil {
			t.Fatal(err)
		}
	}

	out := newOutcomes()
	var wg sync.WaitGroup
	for id := range producers {
		p := newProducer(t, tgt.Driver, id, out, &ns)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range uint64(perProd) {
				if err := p.Publish(ctx, message(id, seq)); err != nil {
					t.Errorf("publish %d/%d: %v", id, seq, err)
					return
				}
			}
			if err := p.Flush(ctx); err != nil {
				t.Errorf("flush %d: %v", id, err)
			}
		}()
	}
	wg.Wait()

	total := producers * perProd
	if got := out.count(broker.Acked); got != total {
		t.Fatalf("acked %d of %d (twice: %d, errors: %v)", got, total, out.twice, out.errs)
	}
	for i, r := range []*received{group0, group1} {
		if err := waitFor(ctx, "every acked message", func() bool { return r.unique() == total }); err != nil {
			t.Fatalf("subscription %d: %v (got %d)", i, err, r.unique())
		}
	}
	if err := waitFor(ctx, "backlog 0", func() bool {
		n, err := tgt.Driver.(broker.Backlogger).Backlog(ctx)
		return err == nil && n == 0
	}); err != nil {
		t.Fatal(err)
	}

	for i, r := range []*received{group0, group1} {
		r.mu.Lock()
		if r.total != total || r.reordered != 0 || len(r.bad) != 0 {
			t.Errorf("subscription %d: %d deliveries of %d messages, %d reordered, problems %v",
				i, r.total, total, r.reordered, r.bad)
		}
		if len(r.domains) != 6 {
			t.Errorf("subscription %d: records came from %d partitions, want 6", i, len(r.domains))
		}
		r.mu.Unlock()
	}
	if out.twice != 0 {
		t.Errorf("%d messages completed twice", out.twice)
	}
	t.Logf("notices: %v", ns.kinds())
	for _, n := range ns.all {
		t.Logf("%s %s", n.Kind, n.Detail)
	}
}
