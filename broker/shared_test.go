package broker

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitCompleted(t *testing.T) {
	var pending atomic.Int64
	if err := WaitCompleted(t.Context(), &pending); err != nil {
		t.Fatalf("nothing pending: %v", err)
	}
	pending.Store(2)
	done := make(chan error, 1)
	go func() { done <- WaitCompleted(t.Context(), &pending) }()
	pending.Add(-1)
	select {
	case err := <-done:
		t.Fatalf("returned %v with one publish pending", err)
	case <-time.After(20 * time.Millisecond):
	}
	pending.Add(-1)
	if err := <-done; err != nil {
		t.Fatalf("every publish completed: %v", err)
	}
	pending.Store(1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := WaitCompleted(ctx, &pending); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v", err)
	}
}

func TestOneNode(t *testing.T) {
	for _, n := range []int{-1, 0} {
		if err := OneNode("stopping x", n); err != nil {
			t.Errorf("node %d: %v", n, err)
		}
	}
	if err := OneNode("stopping x", 1); err == nil || !strings.Contains(err.Error(), "stopping x node 1: the target has one node (0)") {
		t.Errorf("node 1: %v", err)
	}
}

// TestConnectTimes: counts and nearest-rank percentiles of recorded
// connects.
func TestConnectTimes(t *testing.T) {
	var c ConnectTimes
	if st := c.Stats(); st != (ConnectionStats{}) {
		t.Errorf("empty: %+v", st)
	}
	for i := 100; i >= 1; i-- {
		c.Record(time.Duration(i)*time.Millisecond, nil)
	}
	c.Record(time.Hour, errors.New("refused"))
	c.Record(0, errors.New("refused"))
	want := ConnectionStats{OK: 100, Failed: 2, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if st := c.Stats(); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}
