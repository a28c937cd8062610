package merge

import (
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/report"
)

// TestAddTimeline: rates, in flight and anomalies add second by second;
// lag (the broker's, seen by every worker) and p99s take the largest; a
// longer worker's rows extend the merged timeline; faults are listed once.
func TestAddTimeline(t *testing.T) {
	a := []report.Second{{T: 1, SentPerS: 100, AckedPerS: 90, ReceivedPerS: 80, InFlight: 5, Lag: 7, Anomalies: 1, Duplicated: 1, PublishP99US: 300, Faults: []string{"restart"}}}
	b := []report.Second{{T: 1, SentPerS: 50, AckedPerS: 40, ReceivedPerS: 30, InFlight: 2, Lag: 9, Anomalies: 2, Reordered: 2, PublishP99US: 200, Faults: []string{"restart"}},
		{T: 2, SentPerS: 10}}
	got := addTimeline(addTimeline(nil, a), b)
	if len(got) != 2 {
		t.Fatalf("%d rows, want 2", len(got))
	}
	r := got[0]
	if r.SentPerS != 150 || r.AckedPerS != 130 || r.ReceivedPerS != 110 || r.InFlight != 7 || r.Lag != 9 ||
		r.Anomalies != 3 || r.Duplicated != 1 || r.Reordered != 2 || r.PublishP99US != 300 || len(r.Faults) != 1 {
		t.Errorf("row 1: %+v", r)
	}
	if got[1].T != 2 || got[1].SentPerS != 10 {
		t.Errorf("row 2: %+v", got[1])
	}
}

// TestMergeLatency: the merged histogram holds every worker's values,
// so its percentiles are those of one histogram of all of them, and
// negative samples add.
func TestMergeLatency(t *testing.T) {
	var ws []*worker
	all := hdrhistogram.New(1, 3_600_000_000, 3)
	for w, values := range [][]int64{{100, 200, 300}, {1000, 2000}, {50_000}} {
		h := hdrhistogram.New(1, 3_600_000_000, 3)
		for _, v := range values {
			_ = h.RecordValue(v)
			_ = all.RecordValue(v)
		}
		l := report.Summarize(h)
		l.Negative = int64(w)
		r := &report.Results{}
		r.Latency.Set("end_to_end", l)
		ws = append(ws, &worker{res: r})
	}
	got := mergeLatency(ws).EndToEnd
	want := report.Summarize(all)
	if got.Count != 6 || got.P50US != want.P50US || got.P99US != want.P99US || got.MaxUS != want.MaxUS || got.Negative != 3 {
		t.Errorf("merged %+v\nwant %+v (negative 3)", got, want)
	}
}

// TestOffset: the NTP bound from the least one-way times each way. Worker
// j's clock 5 ms ahead of i's, delays of 1 ms and 3 ms: i→j reads 6 ms,
// j→i reads -2 ms; the offset lies in [2 ms, 6 ms]: 4 ± 2 ms, holding 5.
func TestOffset(t *testing.T) {
	tests := []struct {
		ij, ji       int64
		offset, half int64
	}{
		{6e6, -2e6, 4e6, 2e6},
		{100, 100, 0, 100}, // one clock, 100 ns each way
		{-3e6, 5e6, -4e6, 1e6},
	}
	for _, tt := range tests {
		off, half := Offset(tt.ij, tt.ji)
		if off != tt.offset || half != tt.half {
			t.Errorf("Offset(%d, %d) = %d ± %d, want %d ± %d", tt.ij, tt.ji, off, half, tt.offset, tt.half)
		}
	}
}

func TestClocks(t *testing.T) {
	ns := func(v int64) *int64 { return &v }
	mk := func(i int, oneWay ...*int64) *worker {
		return &worker{res: &report.Results{Worker: &report.Worker{Index: i, MinOneWayNS: oneWay}}}
	}
	// Worker 1 is 5 ms ahead (6 ms / -2 ms); worker 2 received nothing of 0's.
	ws := []*worker{mk(0, nil, ns(-2e6), ns(1e6)), mk(1, ns(6e6), nil, nil), mk(2, nil, nil, nil)}
	got, widest := clocks(ws)
	want := []report.ClockOffset{{Worker: 1, Known: true, OffsetUS: 4000, ErrorUS: 2000}, {Worker: 2}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] || widest != -1 {
		t.Errorf("clocks %+v widest %d, want %+v widest -1", got, widest, want)
	}
	_, widest = clocks(ws[:2])
	if widest != 2000 || clockNote(widest) == "" {
		t.Errorf("widest %d (note %q), want 2000 and a note", widest, clockNote(widest))
	}
}
