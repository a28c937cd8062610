package swarm

import (
	"math"
	"testing"
	"time"
)

func mustStages(t *testing.T, ss ...Stage) Pacer {
	t.Helper()
	p, err := Stages(ss)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPacerDue(t *testing.T) {
	const ms = time.Millisecond
	constant := Constant(1000, 2*time.Second)
	// 1k/s for 1s, then a step to 2k/s for 1s.
	step := mustStages(t, Stage{Rate: 1000, For: time.Second}, Stage{Rate: 2000, For: time.Second})
	// From 0 to 1k/s over 2s: 250·t² hits by t seconds, 1,000 in all.
	rampUp := mustStages(t, Stage{Rate: 1000, For: 2 * time.Second, Ramp: 2 * time.Second})
	// 1k/s for 1s, then up to 3k/s over 1s and held for 1s: 1000 +
	// 2000 (the ramp's mean rate) + 3000 hits.
	rampHold := mustStages(t, Stage{Rate: 1000, For: time.Second}, Stage{Rate: 3000, For: 2 * time.Second, Ramp: time.Second})
	// 2k/s down to 0 over 1s: 1,000 hits, the last one late in the ramp.
	rampDown := mustStages(t, Stage{Rate: 2000, For: time.Second}, Stage{Rate: 0, For: time.Second, Ramp: time.Second})
	// Nothing for 1s, then 1k/s.
	pause := mustStages(t, Stage{Rate: 0, For: time.Second}, Stage{Rate: 1000, For: time.Second})

	tests := []struct {
		name string
		p    Pacer
		n    uint64
		want time.Duration
		ok   bool
	}{
		{"constant first", constant, 0, 0, true},
		{"constant second", constant, 1, ms, true},
		{"constant last", constant, 1999, 1999 * ms, true},
		{"constant past the end", constant, 2000, 0, false},
		{"step before", step, 999, 999 * ms, true},
		{"step at", step, 1000, time.Second, true},
		{"step after", step, 1001, time.Second + 500*time.Microsecond, true},
		{"step last", step, 2999, 2*time.Second - 500*time.Microsecond, true},
		{"step past the end", step, 3000, 0, false},
		{"ramp up first", rampUp, 0, 0, true},
		{"ramp up quarter", rampUp, 250, time.Second, true},
		{"ramp up 1000th is at the end", rampUp, 1000, 0, false},
		{"ramp up 999th", rampUp, 999, time.Duration(math.Round(math.Sqrt(999.0/250) * 1e9)), true},
		{"ramp then hold: ramp start", rampHold, 1000, time.Second, true},
		// Within the ramp: 1000t + 1000t² hits by t; 2,000 by t = 1s.
		{"ramp then hold: mid ramp", rampHold, 1000 + 750, time.Second + 500*ms, true},
		{"ramp then hold: hold start", rampHold, 3000, 2 * time.Second, true},
		{"ramp then hold: last", rampHold, 5999, 3*time.Second - time.Second/3000, true},
		{"ramp then hold: past", rampHold, 6000, 0, false},
		// 2000t - 1000t² = 750 at t = 0.5s.
		{"ramp down", rampDown, 2000 + 750, time.Second + 500*ms, true},
		{"ramp down past", rampDown, 3000, 0, false},
		{"pause: first hit after it", pause, 0, time.Second, true},
		{"pause: second", pause, 1, time.Second + ms, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.p.Due(tc.n)
			if ok != tc.ok || (ok && absDur(got-tc.want) > time.Nanosecond) {
				t.Errorf("Due(%d) = %v, %v; want %v, %v", tc.n, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestPacerHits(t *testing.T) {
	constant := Constant(1000, 2*time.Second)
	rampUp := mustStages(t, Stage{Rate: 1000, For: 2 * time.Second, Ramp: 2 * time.Second})
	tests := []struct {
		name    string
		p       Pacer
		elapsed time.Duration
		want    uint64
	}{
		{"nothing yet", constant, 0, 0},
		{"the first is due at 0", constant, 1, 1},
		{"due at exactly 1ms is not before it", constant, time.Millisecond, 1},
		{"just after", constant, time.Millisecond + 1, 2},
		{"one second", constant, time.Second, 1000},
		{"the whole load", constant, 2 * time.Second, 2000},
		{"past the end", constant, time.Hour, 2000},
		{"ramp: one second", rampUp, time.Second, 250},
		{"ramp: the whole load", rampUp, 2 * time.Second, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Hits(tc.elapsed); got != tc.want {
				t.Errorf("Hits(%v) = %d, want %d", tc.elapsed, got, tc.want)
			}
		})
	}
}

// TestPacerConsistent: for every shape, Due never goes back, stays within
// the load, and Hits counts exactly the hits Due puts before a time.
func TestPacerConsistent(t *testing.T) {
	shapes := map[string]Pacer{
		"constant": Constant(3000, time.Second),
		"stages": mustStages(t, Stage{Rate: 500, For: 300 * time.Millisecond},
			Stage{Rate: 5000, For: 400 * time.Millisecond, Ramp: 200 * time.Millisecond},
			Stage{Rate: 0, For: 100 * time.Millisecond, Ramp: 100 * time.Millisecond},
			Stage{Rate: 700, For: 200 * time.Millisecond}),
	}
	for name, p := range shapes {
		t.Run(name, func(t *testing.T) {
			var prev time.Duration
			var n uint64
			for ; ; n++ {
				d, ok := p.Due(n)
				if !ok {
					break
				}
				if d < prev || d >= p.Length() {
					t.Fatalf("Due(%d) = %v after %v, load %v", n, d, prev, p.Length())
				}
				if h := p.Hits(d); h > n {
					t.Fatalf("Hits(Due(%d) = %v) = %d: counts a hit due at or after it", n, d, h)
				}
				if h := p.Hits(d + 1); h < n+1 {
					t.Fatalf("Hits(Due(%d)+1ns) = %d: misses it", n, h)
				}
				prev = d
			}
			if got := p.Hits(p.Length()); got != n {
				t.Errorf("Hits(length) = %d, Due gives %d hits", got, n)
			}
		})
	}
}

func TestPace(t *testing.T) {
	p := Constant(1000, time.Second)
	tests := []struct {
		name    string
		elapsed time.Duration
		hits    uint64
		wait    time.Duration
		stop    bool
	}{
		{"first hit at once", 0, 0, 0, false},
		{"early: wait for the next", 500 * time.Microsecond, 1, 500 * time.Microsecond, false},
		{"late: at once", 5 * time.Millisecond, 1, 0, false},
		{"every hit made", 10 * time.Millisecond, 1000, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wait, stop := Pace(p, tc.elapsed, tc.hits)
			if wait != tc.wait || stop != tc.stop {
				t.Errorf("Pace(%v, %d) = %v, %v; want %v, %v", tc.elapsed, tc.hits, wait, stop, tc.wait, tc.stop)
			}
		})
	}
}

func TestStagesRejects(t *testing.T) {
	for _, ss := range [][]Stage{
		{{Rate: -1, For: time.Second}},
		{{Rate: math.NaN(), For: time.Second}},
		{{Rate: 1, For: 0}},
		{{Rate: 1, For: time.Second, Ramp: 2 * time.Second}},
	} {
		if _, err := Stages(ss); err == nil {
			t.Errorf("Stages(%+v) accepted", ss)
		}
	}
}
