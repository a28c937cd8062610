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
