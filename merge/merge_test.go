package merge

import (
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
)

// TestAddTimeline: rates, in flight and anomalies add second by second;
// lag (the broker's, seen by every worker) and p99s take the largest; a
// longer worker's rows extend the merged timeline; faults are listed once,
// by the names they ran under (not as other workers were told of them).
func TestAddTimeline(t *testing.T) {
	a := []report.Second{{T: 1, SentPerS: 100, AckedPerS: 90, ReceivedPerS: 80, InFlight: 5, Lag: 7, Anomalies: 1, Duplicated: 1, PublishP99US: 300, Faults: []string{"restart"}}}
	b := []report.Second{{T: 1, SentPerS: 50, AckedPerS: 40, ReceivedPerS: 30, InFlight: 2, Lag: 9, Anomalies: 2, Reordered: 2, PublishP99US: 200, Faults: []string{"restart"}},
		{T: 2, SentPerS: 10}}
	c := []report.Second{{T: 1, Faults: []string{"crash consumer 0 (on worker 0)"}}}
	got := addTimeline(addTimeline(addTimeline(nil, a, nil), b, nil), c, map[string]bool{"crash consumer 0 (on worker 0)": true})
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

// TestMergeFaults: a fault in every worker's results (run by worker 1,
// told to 0 and 2 by the schedule) is listed once, with worker 1's window
// and recovery; the anomalies every worker saw in its span add; the lost
// messages are blamed from the merged state by ack time (worker 1's own
// "lost", its messages other workers received, is dropped), only when
// every worker drained.
func TestMergeFaults(t *testing.T) {
	const ms = int64(1e6)
	origin := int64(1_000_000) * 1e9
	one := 1
	told := report.Fault{Kind: "restart", Target: "restart (on worker 1)", Schedule: "faults.0: at 1.5s", Worker: &one,
		Elsewhere: true, PlannedMS: 1500, StartMS: 1500, EndMS: 2500, AttributedUntilMS: 3500}
	ran := report.Fault{Kind: "restart", Target: "restart by command [stop]", Schedule: "faults.0: at 1.5s", Worker: &one,
		PlannedMS: 1500, StartMS: 1520, EndMS: 2800, PublishRecoveryMS: 290, AttributedUntilMS: 4000,
		Anomalies: report.FaultAnomalies{Lost: 612, Duplicated: 3, Reordered: 1}}
	other := report.Fault{Kind: "producer-crash", Target: "crash producer 0", Schedule: "faults.1: at 500ms", PlannedMS: 500,
		StartMS: 500, EndMS: 500, AttributedUntilMS: 1200}
	mk := func(i int, loadStart int64, faults ...report.Fault) *worker {
		return &worker{res: &report.Results{Worker: &report.Worker{Index: i}, LoadStartNS: loadStart, Faults: faults}}
	}
	t0, t2 := told, told
	t0.Anomalies.Duplicated = 2
	t2.Anomalies.Indeterminate = 4
	ws := []*worker{mk(0, origin, t0, other), mk(1, origin+10*ms, ran), mk(2, origin+5*ms, t2)}
	// Acked, never received: at 0.2 s (before every span but the producer
	// crash's: blamed on it), at 2 s (the restart's span), at 10 s (after
	// every span: no fault's).
	c := checker.New(checker.NewNames("sub-0"))
	for i, at := range []int64{200 * ms, 2000 * ms, 10_000 * ms} {
		seq := uint64(i) << 10
		c.Apply([]checker.Event{{Kind: checker.Sent, Producer: 0, Seq: seq, At: origin + at - ms},
			{Kind: checker.Acked, Producer: 0, Seq: seq, At: origin + at}})
	}
	for _, tt := range []struct {
		name    string
		drained bool
		lost    []uint64
	}{
		{"drained", true, []uint64{1, 1}},
		{"not drained", false, []uint64{0, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := mergeFaults(ws, c, origin, tt.drained)
			if len(got) != 2 {
				t.Fatalf("%d faults, want 2 (each once): %+v", len(got), got)
			}
			crash, restart := got[0], got[1]
			if crash.Target != "crash producer 0" || crash.Worker == nil || *crash.Worker != 0 || crash.Elsewhere {
				t.Errorf("first fault %+v, want worker 0's producer crash", crash)
			}
			want := report.FaultAnomalies{Lost: tt.lost[1], Duplicated: 5, Reordered: 1, Indeterminate: 4}
			if restart.Target != ran.Target || restart.StartMS != 1520 || restart.PublishRecoveryMS != 290 ||
				restart.Elsewhere || *restart.Worker != 1 || restart.Anomalies != want {
				t.Errorf("restart %+v\nwant worker 1's record with anomalies %+v", restart, want)
			}
			if crash.Anomalies.Lost != tt.lost[0] {
				t.Errorf("producer crash lost %d, want %d", crash.Anomalies.Lost, tt.lost[0])
			}
		})
	}
	// Without the worker that ran it (--allow-partial), a told record
	// stands, marked so.
	got, _ := mergeFaults([]*worker{ws[0], ws[2]}, c, origin, false)
	if len(got) != 2 || !got[1].Elsewhere || got[1].Anomalies.Duplicated != 2 || got[1].Anomalies.Indeterminate != 4 {
		t.Errorf("without worker 1: %+v", got)
	}
}

// TestToldNotice: a worker's notices of a fault it was told of are left
// out of the merge (the worker that ran it has the fault's own); its other
// notices, and those of faults it ran, stay.
func TestToldNotice(t *testing.T) {
	told := map[string]bool{"restart (on worker 1)": true}
	tests := []struct {
		n    report.Notice
		want bool
	}{
		{report.Notice{Kind: "fault-start", Detail: "restart (on worker 1) (faults.0: at 1.5s)"}, true},
		{report.Notice{Kind: "fault-end", Detail: "restart (on worker 1)"}, true},
		{report.Notice{Kind: "fault-start", Detail: "crash consumer 0 (faults.1: at 2s)"}, false},
		{report.Notice{Kind: "reconnect", Detail: "restart (on worker 1)"}, false},
	}
	for _, tt := range tests {
		if got := toldNotice(tt.n, told); got != tt.want {
			t.Errorf("toldNotice(%+v) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

// TestAttribute: merged evidence names the fault whose span holds its
// time; a lost message, the fault blamed by its ack time; one outside
// every span, none.
func TestAttribute(t *testing.T) {
	const ms = int64(1e6)
	origin := int64(5_000) * 1e9
	r := &report.Results{LoadStartNS: origin,
		Faults: []report.Fault{{Target: "restart by command [stop]"}, {Target: "crash consumer 0"}},
		Examples: map[string][]checker.Example{"duplicated": {
			{Anomaly: "duplicated", At: origin + 2000*ms},
			{Anomaly: "duplicated", At: origin + 9000*ms},
		}},
		Claims: []checker.Claim{{Name: "at-least-once", Evidence: []checker.Example{
			{Anomaly: "lost", At: origin + 100*ms, AckedAt: origin + 300*ms}}}},
	}
	attribute(r, [][2]int64{{1500, 4000}, {6000, 7000}})
	got := []string{r.Examples["duplicated"][0].Fault, r.Examples["duplicated"][1].Fault, r.Claims[0].Evidence[0].Fault}
	want := []string{"restart by command [stop] at 1.5s", "", "restart by command [stop] at 1.5s"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("evidence %d: fault %q, want %q", i, got[i], want[i])
		}
	}
}
