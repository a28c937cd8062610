package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLatencyLogIsLossless feeds a LatencyLog intervals as a run does, then
// finishes it with whole-run histograms that hold more (what arrived after
// the last interval): the .hlog intervals must merge to exactly the
// whole-run histograms, and the summaries of results.json follow from them.
func TestLatencyLogIsLossless(t *testing.T) {
	dir := t.TempDir()
	l := NewLatencyLog(dir)
	wholePub, wholeE2E := sampleHistogram(0, 1), sampleHistogram(0, 1)
	for i := range 3 {
		pub, e2e := sampleHistogram(1000*(i+1), 1), sampleHistogram(1000*(i+1), 1.5)
		l.Second(Second{T: int64(i + 1)}, pub, e2e)
		wholePub.Merge(pub)
		wholeE2E.Merge(e2e)
	}
	// The tail after the last interval.
	wholePub.Merge(sampleHistogram(500, 3))
	wholeE2E.Merge(sampleHistogram(700, 3))
	r := &Results{LoadStartNS: time.Now().UnixNano(), EndedAt: time.Now().UTC().Format(time.RFC3339Nano),
		Latency: Latencies{Publish: Summarize(wholePub), EndToEnd: Summarize(wholeE2E)}}
	if err := l.Finish(dir, r); err != nil {
		t.Fatal(err)
	}
	for i, want := range []Latency{r.Latency.Publish, r.Latency.EndToEnd} {
		merged, intervals, err := ReadLatencyLog(filepath.Join(dir, "latency", latencyFiles[i]+".hlog"))
		if err != nil {
			t.Fatal(err)
		}
		if len(intervals) != 4 {
			t.Errorf("%s: %d intervals, want 3 and the remainder", latencyFiles[i], len(intervals))
		}
		if got := Summarize(merged); got != want {
			t.Errorf("%s: the log merges to\n%+v\nresults.json has\n%+v", latencyFiles[i], got, want)
		}
		hgrm, err := os.ReadFile(filepath.Join(dir, "latency", latencyFiles[i]+".hgrm"))
		if err != nil || !bytes.Contains(hgrm, []byte("#[Max")) {
			t.Errorf("%s.hgrm: %v\n%s", latencyFiles[i], err, hgrm)
		}
	}
}

// TestLoadRebuildsHistogramsFromLogs: results.json without whole-run
// histograms (an older run) gets them from the interval logs.
func TestLoadRebuildsHistogramsFromLogs(t *testing.T) {
	dir := t.TempDir()
	l := NewLatencyLog(dir)
	pub, e2e := sampleHistogram(2000, 1), sampleHistogram(2000, 2)
	l.Second(Second{T: 1}, pub, e2e)
	r := sampleResults()
	r.Latency = Latencies{Publish: Summarize(pub), EndToEnd: Summarize(e2e)}
	if err := l.Finish(dir, r); err != nil {
		t.Fatal(err)
	}
	want := r.Latency.EndToEnd.HDR
	r.Latency.Publish.HDR, r.Latency.EndToEnd.HDR = "", ""
	if err := WriteFile(filepath.Join(dir, "results.json"), r); err != nil {
		t.Fatal(err)
	}
	run, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Results.Latency.EndToEnd.HDR != want {
		t.Error("Load did not rebuild the end-to-end histogram from its log")
	}
}
