package swarm

import (
	"context"
	"testing"
	"time"
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
