package report

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
)

// slower returns h with every value times scale plus add µs.
func slower(t *testing.T, h *hdrhistogram.Histogram, scale float64, add int64) *hdrhistogram.Histogram {
	t.Helper()
	out := emptyLike(h)
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			if err := out.RecordValues(int64(float64(b.From)*scale)+add, b.Count); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func TestCompareSelfIsNoRegression(t *testing.T) {
	run := sampleRun()
	c := Compare(run, run, DefaultCompareOptions())
	if len(c.Regressed) != 0 {
		t.Fatalf("a run regressed against itself: %v", c.Regressed)
	}
	// The whole curve is compared, the tail included.
	var points []string
	for _, r := range c.Rows {
		if r.Section == "latency.end_to_end" && r.Gated {
			points = append(points, r.Label)
		}
	}
	for _, want := range []string{"p50", "p90", "p99", "p99.9", "p99.968"} {
		if !slices.Contains(points, want) {
			t.Errorf("end-to-end curve not compared at %s (compared at %v)", want, points)
		}
	}
}

func TestCompareFindsRegressions(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, r *Results)
		opts   func(o *CompareOptions)
		want   []string // must regress
		absent []string // must not
	}{
		{name: "slower end to end", change: func(t *testing.T, r *Results) {
			h, _ := r.Latency.EndToEnd.Histogram()
			r.Latency.EndToEnd = Summarize(slower(t, h, 1, 20_000))
		}, want: []string{"end_to_end.p50", "end_to_end.p99"}, absent: []string{"publish.p50", "lost"}},
		{name: "slower only in the tail", change: func(t *testing.T, r *Results) {
			h, _ := r.Latency.Publish.Histogram()
			tail := emptyLike(h)
			for _, b := range h.Distribution() {
				v := b.From
				if v > 100_000 {
					v *= 3
				}
				_ = tail.RecordValues(v, b.Count)
			}
			r.Latency.Publish = Summarize(tail)
		}, want: []string{"publish.p999"}, absent: []string{"publish.p50", "publish.p99"}},
		{name: "a tolerance for the series", change: func(t *testing.T, r *Results) {
			h, _ := r.Latency.EndToEnd.Histogram()
			r.Latency.EndToEnd = Summarize(slower(t, h, 1.5, 0))
		}, opts: func(o *CompareOptions) { o.PerMetric = map[string]float64{"end_to_end": 1} },
			absent: []string{"end_to_end.p50", "end_to_end.p99"}},
		{name: "more loss", change: func(t *testing.T, r *Results) {
			r.Counts.Lost, r.Verdict, r.Claims[0].Verdict = 3, checker.Fail, checker.Fail
		}, want: []string{"lost", "claims.at-least-once"}, absent: []string{"end_to_end.p50"}},
		{name: "fewer received", change: func(t *testing.T, r *Results) {
			r.Throughput.ReceivedPerS *= 0.8
		}, want: []string{"received_per_s"}, absent: []string{"sent_per_s"}},
		{name: "duplicates within tolerance", change: func(t *testing.T, r *Results) {
			r.Counts.Duplicated = 11 // +10% of 10: not past it
		}, absent: []string{"duplicated"}},
		{name: "faster is no regression", change: func(t *testing.T, r *Results) {
			h, _ := r.Latency.EndToEnd.Histogram()
			r.Latency.EndToEnd = Summarize(slower(t, h, 0.5, 0))
			r.Counts.Duplicated = 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, next := sampleRun(), sampleRun()
			base.Results.Verdict = checker.Pass
			next.Results.Verdict = checker.Pass
			tt.change(t, next.Results)
			o := DefaultCompareOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			c := Compare(base, next, o)
			for _, w := range tt.want {
				if !slices.Contains(c.Regressed, w) {
					t.Errorf("%s did not regress; regressed: %v", w, c.Regressed)
				}
			}
			for _, a := range tt.absent {
				if slices.Contains(c.Regressed, a) {
					t.Errorf("%s regressed; regressed: %v", a, c.Regressed)
				}
			}
			if tt.want == nil && len(c.Regressed) > 0 {
				t.Errorf("regressed: %v", c.Regressed)
			}
			var b bytes.Buffer
			if err := CompareText(&b, c); err != nil {
				t.Fatal(err)
			}
			if len(tt.want) > 0 && !strings.Contains(b.String(), "regressed: "+strings.Join(c.Summary(), "; ")) {
				t.Errorf("the text does not name the regressions:\n%s", b.String())
			}
		})
	}
}

func TestCompareGolden(t *testing.T) {
	base, next := sampleRun(), sampleRun()
	h, _ := next.Results.Latency.EndToEnd.Histogram()
	next.Results.Latency.EndToEnd = Summarize(slower(t, h, 1.2, 500))
	next.Results.Counts.Lost = 2
	c := Compare(base, next, DefaultCompareOptions())
	golden(t, "compare.txt", render(t, func(w io.Writer) error { return CompareText(w, c) }))
	golden(t, "compare.md", render(t, func(w io.Writer) error { return CompareMarkdown(w, c) }))
}

func TestParseTolerance(t *testing.T) {
	for in, want := range map[string]float64{"10%": 0.1, "2.5%": 0.025, "0.2": 0.2, "0%": 0} {
		if got, err := ParseTolerance(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "ten", "-5%", "NaN", "inf%"} {
		if _, err := ParseTolerance(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCompareMetric: --tolerance-metric names are read as compare names,
// whatever group, case or dash a user writes; an unknown one gets the
// closest known name.
func TestCompareMetric(t *testing.T) {
	for in, want := range map[string]string{
		"end_to_end.p99": "end_to_end.p99", "latency.End-To-End.P99": "end_to_end.p99", "counts.lost": "lost",
		" throughput.received_per_s ": "received_per_s", "publish": "publish", "verdict": "verdict",
	} {
		if got, err := CompareMetric(in); err != nil || got != want {
			t.Errorf("CompareMetric(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CompareMetric("end_to_endd.p99"); err == nil || !strings.Contains(err.Error(), `did you mean "end_to_end.p99"?`) {
		t.Errorf("typo: %v", err)
	}
	if _, err := CompareMetric("cpu"); err == nil || !strings.Contains(err.Error(), "(latency: end_to_end") {
		t.Errorf("unknown: %v", err)
	}
}
