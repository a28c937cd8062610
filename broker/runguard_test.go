package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunGuard(t *testing.T) {
	var g RunGuard
	ctx, end, err := g.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Begin(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Begin: %v, want ErrRunning", err)
	}
	// ending is set just before the Run calls end: Close, which waits for
	// end, cannot return before it. (A channel closed after end raced
	// Close's return: the test failed now and then.)
	var ending atomic.Bool
	go func() { // a Run that follows its context
		<-ctx.Done()
		ending.Store(true)
		end()
	}()
	closed := make(chan bool)
	go func() { closed <- g.Close() }()
	select {
	case first := <-closed:
		if !first {
			t.Fatal("first Close reported closed already")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the running Run")
	}
	if !ending.Load() {
		t.Fatal("Close returned before the Run did")
	}
	if g.Close() {
		t.Error("second Close reported first")
	}
	if _, _, err := g.Begin(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Begin after Close: %v, want ErrClosed", err)
	}
}

func TestRunGuardRunAgainAfterEnd(t *testing.T) {
	var g RunGuard
	_, end, err := g.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	end()
	if _, end2, err := g.Begin(context.Background()); err != nil {
		t.Fatalf("Begin after the first Run ended: %v", err)
	} else {
		end2()
	}
	if !g.Close() {
		t.Error("Close with no Run running reported closed already")
	}
}
