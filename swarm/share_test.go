package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
)

func TestPart(t *testing.T) {
	tests := []struct {
		n, workers int
		want       [][2]int // first, count per worker
	}{
		{8, 4, [][2]int{{0, 2}, {2, 2}, {4, 2}, {6, 2}}},
		{5, 3, [][2]int{{0, 2}, {2, 2}, {4, 1}}},
		{2, 4, [][2]int{{0, 1}, {1, 1}, {2, 0}, {2, 0}}},
		{0, 2, [][2]int{{0, 0}, {0, 0}}},
		{7, 1, [][2]int{{0, 7}}},
	}
	for _, tt := range tests {
		next := 0
		for w, want := range tt.want {
			first, count := Part(tt.n, tt.workers, w)
			if [2]int{first, count} != want {
				t.Errorf("Part(%d, %d, %d) = %d, %d; want %v", tt.n, tt.workers, w, first, count, want)
			}
			if first != next {
				t.Errorf("Part(%d, %d, %d) starts at %d, the previous part ended at %d", tt.n, tt.workers, w, first, next)
			}
			next = first + count
		}
		if next != tt.n {
			t.Errorf("parts of %d across %d cover %d", tt.n, tt.workers, next)
		}
	}
}

// shareConfig is the scenario of the distributed known answer: 8
// producers at 4000/s in total for a second, 4 consumers per subscription.
func shareConfig() Config {
	return Config{RunID: 42, Seed: 5, Producers: 8, Consumers: 4, Subscriptions: 1, Rate: 4000,
		Duration: time.Second, MessageSize: 64, MaxInFlight: 5000}
}

// setUpMemory opens and sets up a memory broker, closed at the test's
// end, and a context that bounds the test.
func setUpMemory(t *testing.T, mem memory.Config, subscriptions int, seed int64) (*memory.Broker, context.Context) {
	t.Helper()
	b, err := memory.New(mem, subscriptions, seed)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(func() {
		_ = b.Close(ctx)
		cancel()
	})
	if err := b.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return b, ctx
}

// runWorkers runs cfg split across workers swarms in this process against
// one memory broker, each saving its checker state, and returns the merge
// of the saved states.
func runWorkers(t *testing.T, cfg Config, workers int, mem memory.Config, seed int64) *checker.Checker {
	t.Helper()
	b, ctx := setUpMemory(t, mem, max(cfg.Subscriptions, 1), seed)
	sws := make([]*Swarm, workers)
	for w := range workers {
		c := cfg
		c.Share = NewShare(w, workers, cfg.Producers, cfg.Consumers)
		_, c.Producers = Part(cfg.Producers, workers, w)
		_, c.Consumers = Part(cfg.Consumers, workers, w)
		sws[w] = New(c, b, nil)
		if err := sws[w].StartConsumers(ctx); err != nil {
			t.Fatal(err)
		}
		defer sws[w].Close()
		if err := sws[w].Prepare(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// One start for all, as --start-at gives pods.
	start := ClockNS(time.Now().Add(100 * time.Millisecond))
	states := make([]bytes.Buffer, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w, sw := range sws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sw.ProduceFrom(ctx, start); err != nil {
				errs[w] = err
				return
			}
			if dr := sw.Drain(ctx, 30*time.Second, 300*time.Millisecond); !dr.Drained {
				errs[w] = fmt.Errorf("worker %d drain: %s", w, dr.Reason)
			}
		}()
	}
	wg.Wait()
	for w, sw := range sws {
		if errs[w] != nil {
			t.Fatal(errs[w])
		}
		sw.Close()
		if err := sw.Collector().Checker(func(c *checker.Checker) error { return c.Save(&states[w]) }); err != nil {
			t.Fatal(err)
		}
	}
	merged, err := checker.Load(&states[0])
	if err != nil {
		t.Fatal(err)
	}
	for w := 1; w < workers; w++ {
		o, err := checker.Load(&states[w])
		if err != nil {
			t.Fatal(err)
		}
		if err := merged.Merge(o); err != nil {
			t.Fatal(err)
		}
	}
	return merged
}

// TestWorkersMergeExactly is the known answer of a distributed run: four
// workers' swarms against one memory broker with seeded drops, duplicates
// and reorders, each with its part of the producers and consumers and
// run-wide producer ids, merged from their saved states: lost, duplicated
// and reordered are the injected counts exactly, and every count equals a
// single process's run of the same scenario and seed.
func TestWorkersMergeExactly(t *testing.T) {
	faults := memory.Faults{Window: 500, Drop: 7, Duplicate: 5, Reorder: 6}
	for _, mode := range []string{"partitioned", "queue"} {
		t.Run(mode, func(t *testing.T) {
			mem := memory.Config{Mode: mode, Faults: faults}
			if mode == "partitioned" {
				mem.Partitions = 4
			}
			cfg := shareConfig()
			got := runWorkers(t, cfg, 4, mem, 9).Finalize(checker.Options{Drained: true, Claims: allClaims}).Counts
			single := runMemory(t, cfg, mem, 9).Counts
			const sent = 4000 // every intended send of 1 s at 4000/s is made
			want := checker.Counts{Sent: sent, Acked: sent, Lost: 7, Duplicated: 5, Reordered: 6,
				Unique: sent - 7, Received: sent - 7 + 5}
			pick := func(c checker.Counts) checker.Counts {
				return checker.Counts{Sent: c.Sent, Acked: c.Acked, Lost: c.Lost, Duplicated: c.Duplicated,
					Reordered: c.Reordered, Unique: c.Unique, Received: c.Received, Unexpected: c.Unexpected,
					Corrupted: c.Corrupted, Indeterminate: c.Indeterminate}
			}
			if pick(got) != want {
				t.Errorf("merged counts\n got %+v\nwant %+v", pick(got), want)
			}
			if pick(single) != pick(got) {
				t.Errorf("single process\n got %+v\nmerged %+v", pick(single), pick(got))
			}
			if n := got.DuplicatedStored + got.DuplicatedPositionUnknown + got.DuplicatedRedelivered; n != got.Duplicated {
				t.Errorf("duplicates by kind add up to %d, not %d: %+v", n, got.Duplicated, got)
			}
		})
	}
}

// runLoad starts sw's consumers and runs its load.
func runLoad(ctx context.Context, t *testing.T, sw *Swarm) {
	t.Helper()
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sw.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sw.ProduceFrom(ctx, ClockNS(time.Now())); err != nil {
		t.Fatal(err)
	}
}

// failingCount is a memory broker whose backlog count fails with err until
// until, then counts as the broker does.
type failingCount struct {
	*memory.Broker
	err   error
	until time.Time
}

func (f *failingCount) Backlog(ctx context.Context) (int64, error) {
	if time.Now().Before(f.until) {
		return -1, f.err
	}
	return f.Broker.Backlog(ctx)
}

// TestWorkerDrainWaitsOutFailedCounts: a worker's drain ends on quiet when
// the driver says it cannot count (another worker's consumers share its
// queues), but not while the count itself fails (a lag query during a
// rebalance): it waits for a count that succeeds, or times out naming the
// failure. Everything sent here is received within milliseconds, so only
// the count can hold the drain.
func TestWorkerDrainWaitsOutFailedCounts(t *testing.T) {
	failure := errors.New("listing end offsets: coordinator loading")
	tests := []struct {
		name      string
		err       error
		failFor   time.Duration
		timeout   time.Duration
		drained   bool
		atLeast   time.Duration // the drain lasts at least this
		lessThan  time.Duration // and ends before this (0: no bound)
		reasonHas string
	}{
		{name: "cannot count: quiet decides", err: broker.CannotCount(failure), failFor: time.Minute, timeout: 40 * time.Second,
			drained: true, lessThan: 30 * time.Second, reasonHas: "nothing more arrived"},
		{name: "failed count, then a count", err: failure, failFor: 3 * time.Second, timeout: 40 * time.Second,
			drained: true, atLeast: 3 * time.Second, reasonHas: "nothing more arrived"},
		{name: "failed count to the end", err: failure, failFor: time.Minute, timeout: 3 * time.Second,
			atLeast: 3 * time.Second, reasonHas: "without counting what the broker holds (listing end offsets: coordinator loading)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ctx := setUpMemory(t, memory.Config{}, 1, 1)
			cfg := Config{RunID: 7, Seed: 5, Producers: 1, Consumers: 1, Subscriptions: 1, Rate: 500,
				Duration: 200 * time.Millisecond, MessageSize: 64, MaxInFlight: 100}
			cfg.Share = NewShare(0, 2, 2, 2)
			f := &failingCount{Broker: b, err: tt.err}
			sw := New(cfg, f, nil)
			defer sw.Close()
			runLoad(ctx, t, sw)
			f.until = time.Now().Add(tt.failFor)
			began := time.Now()
			dr := sw.Drain(ctx, tt.timeout, 300*time.Millisecond)
			took := time.Since(began)
			if dr.Drained != tt.drained || !strings.Contains(dr.Reason, tt.reasonHas) {
				t.Errorf("drained %v (%s), want %v and a reason with %q", dr.Drained, dr.Reason, tt.drained, tt.reasonHas)
			}
			if took < tt.atLeast {
				t.Errorf("the drain took %s, want at least %s", took, tt.atLeast)
			}
			if tt.lessThan > 0 && took >= tt.lessThan {
				t.Errorf("the drain took %s, want less than %s", took, tt.lessThan)
			}
		})
	}
}
