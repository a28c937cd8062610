package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestLatencyLogIsLossless feeds a LatencyLog intervals of every series as
// a run does, then finishes it with whole-run histograms that hold more
// (what arrived after the last interval): each series' .hlog intervals
// must merge to exactly its whole-run histogram, and the summaries of
// results.json follow from them.
func TestLatencyLogIsLossless(t *testing.T) {
	dir := t.TempDir()
	l := NewLatencyLog(dir)
	series := (&Latencies{}).Series()
	whole := map[string]*hdrhistogram.Histogram{}
	for _, s := range series {
		whole[s.Name] = sampleHistogram(0, 1)
	}
	for i := range 3 {
		iv := map[string]*hdrhistogram.Histogram{}
		for j, s := range series {
			iv[s.Name] = sampleHistogram(100*(i+1)*(j+1), 1+float64(j)/2)
			whole[s.Name].Merge(iv[s.Name])
		}
		l.Series(Second{T: int64(i + 1)}, iv)
	}
	// The tail after the last interval.
	r := &Results{LoadStartNS: time.Now().UnixNano(), EndedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	for j, s := range series {
		whole[s.Name].Merge(sampleHistogram(50*(j+1), 3))
		r.Latency.Set(s.Name, Summarize(whole[s.Name]))
	}
	if err := l.Finish(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Latency.Series() {
		merged, intervals, err := ReadLatencyLog(filepath.Join(dir, "latency", s.File+".hlog"))
		if err != nil {
			t.Fatal(err)
		}
		if len(intervals) != 4 {
			t.Errorf("%s: %d intervals, want 3 and the remainder", s.File, len(intervals))
		}
		if got := Summarize(merged); got != s.Latency {
			t.Errorf("%s: the log merges to\n%+v\nresults.json has\n%+v", s.File, got, s.Latency)
		}
		hgrm, err := os.ReadFile(filepath.Join(dir, "latency", s.File+".hgrm"))
		if err != nil || !bytes.Contains(hgrm, []byte("#[Max")) {
			t.Errorf("%s.hgrm: %v\n%s", s.File, err, hgrm)
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
