package swarm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
)

// TestOverlappingCrashesQueue: a crash asked for while another is under way
// on the same client waits for it and is then carried out in its turn; it
// never fails because of the first (two fault windows that overlap on one
// client must not abort the run).
func TestOverlappingCrashesQueue(t *testing.T) {
	r := newCrashRequest()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- r.ask(ctx, "consumer 0", 0, nil) }()
	waitWanted(t, &r)
	go func() { second <- r.ask(ctx, "consumer 0", 0, nil) }()
	// The worker has not crashed yet: neither request may be answered.
	select {
	case err := <-second:
		t.Fatalf("the second request returned %v while the first was under way", err)
	case err := <-first:
		t.Fatalf("the first request returned %v before the worker answered", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.answer(nil) // the worker crashed once
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	// The second is posted only now, and waits for a crash of its own.
	waitWanted(t, &r)
	select {
	case err := <-second:
		t.Fatalf("the second request returned %v without a crash of its own", err)
	default:
	}
	r.answer(nil)
	if err := <-second; err != nil {
		t.Fatalf("second: %v", err)
	}
	if r.wanted.Load() {
		t.Error("a crash is still wanted after both were answered")
	}
}

// TestQueuedCrashEnds: a request waiting its turn ends with the worker, or
// with its context, and then leaves the turn to no one.
func TestQueuedCrashEnds(t *testing.T) {
	r := newCrashRequest()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- r.ask(ctx, "producer 1", 0, nil) }()
	waitWanted(t, &r)
	short, cancel := context.WithCancel(ctx)
	queued := make(chan error, 1)
	go func() { queued <- r.ask(short, "producer 1", 0, nil) }()
	cancel()
	if err := <-queued; err == nil {
		t.Error("a queued request whose context ended returned nil")
	}
	r.end()
	if err := <-first; err == nil {
		t.Error("the request under way returned nil after the worker ended")
	}
	if err := r.ask(ctx, "producer 1", 0, nil); err == nil {
		t.Error("a request after the worker ended returned nil")
	}
}

func waitWanted(t *testing.T, r *crashRequest) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !r.wanted.Load() {
		if time.Now().After(deadline) {
			t.Fatal("no crash request was posted within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCrashNotice: a consumer crash says in a notice which delivery it held
// (processed, not acknowledged), and that delivery is the one duplicate the
// checker finds; a crash with nothing to hold says it crashed idle and
// adds no duplicate. The notice is the evidence a reader of the timeline
// needs to tell one from the other.
func TestCrashNotice(t *testing.T) {
	t.Parallel()
	b, ctx := memBroker(t, memory.Config{Partitions: 1})
	var mu sync.Mutex
	var crashes []string
	notify := func(n broker.Notice) {
		if n.Kind == "consumer-crash" {
			mu.Lock()
			crashes = append(crashes, n.Detail)
			mu.Unlock()
		}
	}
	sw := New(Config{RunID: 1, Producers: 1, Consumers: 1, Rate: 500, Duration: 1500 * time.Millisecond, MessageSize: 64}, b, notify)
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	crashed := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond)
		crashed <- sw.CrashConsumer(ctx, 0)
	}()
	if err := sw.Produce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-crashed; err != nil {
		t.Fatalf("crash under load: %v", err)
	}
	if dr := sw.Drain(ctx, 30*time.Second, 50*time.Millisecond); !dr.Drained {
		t.Fatalf("drain: %s", dr.Reason)
	}
	// Nothing more comes: this crash waits idleCrashAfter and holds nothing.
	if err := sw.CrashConsumer(ctx, 0); err != nil {
		t.Fatalf("idle crash: %v", err)
	}
	sw.Close()
	res := sw.Collector().Finalize(checker.Options{Drained: true})
	mu.Lock()
	defer mu.Unlock()
	if len(crashes) != 2 {
		t.Fatalf("consumer-crash notices %q, want 2", crashes)
	}
	dups := res.Examples["duplicated"]
	if res.Counts.Duplicated != 1 || res.Counts.Lost != 0 || len(dups) != 1 {
		t.Fatalf("counts %+v, duplicate examples %+v: want the held delivery as the one duplicate, nothing lost", res.Counts, dups)
	}
	held := fmt.Sprintf("consumer 0 crashed holding producer %d seq %d (", dups[0].Producer, dups[0].Seq)
	if !strings.HasPrefix(crashes[0], held) {
		t.Errorf("first notice %q, want it to start %q (the duplicate)", crashes[0], held)
	}
	if !strings.HasPrefix(crashes[1], "consumer 0 crashed idle (no delivery within 1s") {
		t.Errorf("second notice %q, want an idle crash", crashes[1])
	}
}
