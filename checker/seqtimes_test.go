package checker

import "testing"

// TestSeqTimesEstimate: times between the kept ones are interpolated, the
// last slot from the exact last sample, and exact samples win over the
// rough time of a range.
func TestSeqTimesEstimate(t *testing.T) {
	const s = int64(1e9)
	t0 := 1000 * s
	tests := []struct {
		name  string
		build func(*seqTimes)
		want  map[uint64]int64 // seq -> time; 0: unknown
	}{
		{
			name: "slot starts interpolate",
			build: func(st *seqTimes) {
				st.mark(0, t0)
				st.mark(1024, t0+s)
			},
			want: map[uint64]int64{0: t0, 512: t0 + s/2, 1024: t0 + s, 1500: t0 + s, 5000: t0 + s},
		},
		{
			// 50 msg/s for 20 s: the run never leaves its first slot; the
			// last send dates everything in between.
			name: "the last slot is interpolated to the last sample",
			build: func(st *seqTimes) {
				st.mark(0, t0)
				st.markRange(0, 999, t0+20*s) // pulled at the end: rough
				st.mark(999, t0+999*s/50)
			},
			want: map[uint64]int64{0: t0, 750: t0 + 15*s, 999: t0 + 999*s/50},
		},
		{
			// A producer starting at an unaligned sequence number: its
			// first send is exact, the slot start is not.
			name: "an unaligned start is dated from its first sample",
			build: func(st *seqTimes) {
				st.markRange(1<<32-100, 1<<32+99, t0+9*s)
				st.mark(1<<32-100, t0)
				st.mark(1<<32, t0+s)
				st.mark(1<<32+99, t0+2*s)
			},
			want: map[uint64]int64{1<<32 - 100: t0, 1<<32 - 50: t0 + s/2, 1<<32 + 99: t0 + 2*s, 1<<32 + 33: t0 + s + s/3},
		},
		{
			name:  "nothing known",
			build: func(*seqTimes) {},
			want:  map[uint64]int64{0: 0, 1 << 40: 0},
		},
		{
			name: "a range alone dates its slots",
			build: func(st *seqTimes) {
				st.markRange(0, 4095, t0)
			},
			want: map[uint64]int64{0: t0, 3000: t0},
		},
		{
			// Times before the first one seen are kept as well.
			name: "earlier times than the origin",
			build: func(st *seqTimes) {
				st.mark(2048, t0)
				st.mark(1024, t0-s)
			},
			want: map[uint64]int64{1024: t0 - s, 1536: t0 - s/2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st seqTimes
			tc.build(&st)
			for seq, want := range tc.want {
				got := st.estimate(seq)
				// Slot times are kept to the millisecond.
				if d := got - want; d < -1e6 || d > 1e6 || (want == 0) != (got == 0) {
					t.Errorf("seq %d: %d, want %d (off by %dms)", seq, got, want, d/1e6)
				}
			}
		})
	}
}

// TestSeqTimesBounded: a wild sequence number cannot make the slot table
// huge, and the table survives a save and merge.
func TestSeqTimesBounded(t *testing.T) {
	var st seqTimes
	st.mark(0, 1e9)
	st.mark(1<<60, 2e9)
	if len(st.at) > 1 {
		t.Errorf("%d slots after a wild sequence number", len(st.at))
	}
	if got := st.estimate(1 << 60); got != 2e9 {
		t.Errorf("the wild sample itself: %d", got)
	}
	var back seqTimes
	back.merge(st.save())
	for _, seq := range []uint64{0, 1 << 59, 1 << 60} {
		if a, b := st.estimate(seq), back.estimate(seq); a != b {
			t.Errorf("seq %d: %d before saving, %d after", seq, a, b)
		}
	}
}
