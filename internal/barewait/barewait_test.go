package barewait

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestConsumed(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		got, n  int64
		dups    bool
		waitErr error
		want    string
	}{
		{"all read", 5, 5, false, nil, ""},
		{"duplicates allowed", 6, 5, true, nil, ""},
		{"duplicates refused", 6, 5, false, nil, "6 of 5"},
		{"consumer failed", 5, 5, false, boom, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c atomic.Int64
			c.Store(tc.got)
			stopped := false
			err := Consumed(context.Background(), &c, int(tc.n), tc.dups, func() { stopped = true }, func() error { return tc.waitErr })
			if !stopped {
				t.Error("the consumers were not stopped")
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	// Fewer than n: the wait ends with ctx, and says how many.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var c atomic.Int64
	c.Store(3)
	if err := Consumed(ctx, &c, 5, false, func() {}, func() error { return nil }); err == nil || !strings.Contains(err.Error(), "3 of 5") {
		t.Errorf("err %v, want 3 of 5 read", err)
	}
}

// TestSum: CRC-32C's check value, the same from a string without a copy.
func TestSum(t *testing.T) {
	if got := Sum([]byte("123456789")); got != 0xe3069283 {
		t.Errorf("Sum = %#x, want CRC-32C's check value 0xe3069283", got)
	}
	if got := SumString("123456789"); got != 0xe3069283 {
		t.Errorf("SumString = %#x, want 0xe3069283", got)
	}
	if got := SumString(""); got != Sum(nil) {
		t.Errorf("SumString of nothing = %#x, want %#x", got, Sum(nil))
	}
}
