package report

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report/threshold"
)

func render(t *testing.T, f func(io.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestMarkdownGolden(t *testing.T) {
	golden(t, "sample.md", render(t, func(w io.Writer) error { return Markdown(w, sampleResults()) }))
}

func TestMarkdownRunsGolden(t *testing.T) {
	a, b := sampleRun(), sampleRun()
	b.Results.Scenario.Broker, b.Results.Target, b.Results.Verdict = "rabbitmq", "exec rabbitmq-server", checker.Pass
	golden(t, "sample-runs.md", render(t, func(w io.Writer) error { return MarkdownRuns(w, []*Run{a, b}) }))
}

func TestJUnitGolden(t *testing.T) {
	golden(t, "sample.junit.xml", render(t, func(w io.Writer) error { return JUnit(w, sampleResults()) }))
}

func TestHGRMGolden(t *testing.T) {
	h, err := sampleResults().Latency.EndToEnd.Histogram()
	if err != nil || h == nil {
		t.Fatalf("no histogram in the sample: %v", err)
	}
	golden(t, "sample.hgrm", render(t, func(w io.Writer) error { return HGRM(w, h) }))
}

// dataURI matches the charts, which are checked apart (TestHTMLCharts), so
// the HTML golden file stays readable.
var dataURI = regexp.MustCompile(`data:image/svg\+xml;base64,[A-Za-z0-9+/=]+`)

func TestHTMLGolden(t *testing.T) {
	b := render(t, func(w io.Writer) error { return HTML(w, sampleRun()) })
	golden(t, "sample.html", dataURI.ReplaceAll(b, []byte("data:image/svg+xml;base64,…")))
}

func TestHTMLRunsGolden(t *testing.T) {
	a, b := sampleRun(), sampleRun()
	b.Results.Scenario.Broker = "rabbitmq"
	b.Results.Latency.EndToEnd = Summarize(sampleHistogram(40000, 2))
	out := render(t, func(w io.Writer) error { return HTMLRuns(w, []*Run{a, b}) })
	golden(t, "sample-runs.html", dataURI.ReplaceAll(out, []byte("data:image/svg+xml;base64,…")))
	for _, id := range []string{"chart-cmp-e2e", "chart-cmp-publish", "chart-cmp-throughput"} {
		if !bytes.Contains(out, []byte(`id="`+id+`"`)) {
			t.Errorf("no %s", id)
		}
	}
}

// TestHTMLCharts decodes every chart: each is an SVG with its title, axis
// labels and legend.
func TestHTMLCharts(t *testing.T) {
	b := render(t, func(w io.Writer) error { return HTML(w, sampleRun()) })
	uris := dataURI.FindAll(b, -1)
	want := [][]string{
		// The axis ends on a labelled 10s above the 4.3s maximum.
		{"Latency by percentile", "percentile", "latency (log scale)", "99.9%", "end-to-end", "publish", "1ms", ">10s<"},
		{"Target and achieved rate", "target 2,000/s", "sent/s", "fault: restart all nodes (kill)"},
		{"Throughput", "seconds since the load started", "messages per second", "received/s", "fault: restart all nodes (kill)", "drain"},
		{"Consumer lag", "consumer lag", "in flight"},
		{"p99 per second", "end-to-end p99"},
		{"Anomalies by kind, so far", "duplicated 10, allowed by the claims", "reordered 2, breaks ordered"},
		{"Anomaly examples over time", "duplicated: 10 examples", "reordered: 2 examples"},
	}
	if len(uris) != len(want) {
		t.Fatalf("%d charts, want %d", len(uris), len(want))
	}
	for i, u := range uris {
		svg, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(u), "data:image/svg+xml;base64,"))
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(svg, new(struct{})); err != nil {
			t.Errorf("chart %d is not well-formed XML: %v", i, err)
		}
		for _, w := range want[i] {
			if !bytes.Contains(svg, []byte(w)) {
				t.Errorf("chart %d (%s) lacks %q", i, want[i][0], w)
			}
		}
	}
}

func TestJUnitStructure(t *testing.T) {
	r := sampleResults()
	r.Error = "broker unreachable"
	var doc junitSuites
	if err := xml.Unmarshal(render(t, func(w io.Writer) error { return JUnit(w, r) }), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Suites[0]
	// 2 claims + 4 thresholds + the infrastructure error.
	if s.Tests != 7 || s.Failures != 2 || s.Errors != 1 || len(s.Cases) != 7 {
		t.Fatalf("tests %d failures %d errors %d cases %d", s.Tests, s.Failures, s.Errors, len(s.Cases))
	}
	ordered := s.Cases[1]
	if ordered.Failure == nil || !strings.Contains(ordered.Failure.Body, "producer 3 seq 17001") {
		t.Errorf("the failing claim does not carry its evidence: %+v", ordered.Failure)
	}
}

func TestSampleThresholds(t *testing.T) {
	r := sampleResults()
	if len(r.Thresholds) != len(sampleThresholds) {
		t.Fatalf("thresholds: %+v", r.Thresholds)
	}
	verdicts := ""
	for _, th := range r.Thresholds {
		verdicts += th.Verdict + " "
	}
	if verdicts != "pass pass pass fail " {
		t.Errorf("verdicts %q", verdicts)
	}
}

func TestApplyThresholdsVerdict(t *testing.T) {
	pass := func() *Results {
		r := sampleResults()
		r.Verdict, r.Thresholds = checker.Pass, nil
		return r
	}
	tests := []struct {
		exprs []string
		want  string
	}{
		{[]string{"lost == 0", "end_to_end.p50 < 1s"}, checker.Pass},
		{[]string{"lost == 0", "duplicated <= 5"}, checker.Fail},
		{[]string{"received_per_s >= 5k/s"}, checker.Fail},
	}
	for _, tt := range tests {
		r := pass()
		if err := ApplyThresholds(r, tt.exprs); err != nil {
			t.Fatal(err)
		}
		if r.Verdict != tt.want {
			t.Errorf("%v: verdict %s, want %s", tt.exprs, r.Verdict, tt.want)
		}
	}
	// No latency recorded: the threshold cannot pass, and neither can the run.
	r := pass()
	r.Latency.EndToEnd = Latency{}
	if err := ApplyThresholds(r, []string{"end_to_end.p99 < 1s"}); err != nil {
		t.Fatal(err)
	}
	if r.Verdict != checker.Unknown || r.Thresholds[0].Holds != nil {
		t.Errorf("judged a latency threshold without latency: %+v", r.Thresholds[0])
	}
	if err := ApplyThresholds(pass(), []string{"los == 0"}); err == nil || !strings.Contains(err.Error(), "thresholds.0") {
		t.Errorf("bad threshold: %v", err)
	}
}

// TestLossThresholdAfterAnIncompleteDrain: after a drain that timed out,
// the acked messages not received are unaccounted, not lost, so
// counts.lost is 0 whatever happened to them: a threshold on it cannot be
// judged (before, "lost == 0" held and a run whose claims say nothing of
// loss passed).
func TestLossThresholdAfterAnIncompleteDrain(t *testing.T) {
	r := sampleResults()
	r.Verdict, r.Thresholds = checker.Pass, nil
	r.Drain = Drain{Complete: false, Reason: "drain timed out (30s) with 40 acknowledged messages not received"}
	r.Counts.Lost, r.Counts.Unaccounted = 0, 40
	if err := ApplyThresholds(r, []string{"lost == 0", "duplicated <= 100"}); err != nil {
		t.Fatal(err)
	}
	th := r.Thresholds[0]
	if r.Verdict != checker.Unknown || th.Verdict != checker.Unknown || th.Holds != nil ||
		!strings.Contains(th.Summary, "drain") {
		t.Errorf("verdict %s; lost threshold %+v: want it undecided, saying the drain did not complete", r.Verdict, th)
	}
	if r.Thresholds[1].Verdict != checker.Pass {
		t.Errorf("duplicated threshold %+v: want it decided", r.Thresholds[1])
	}
}

// TestEveryMetricHasAValue keeps the threshold catalogue and MetricValue in
// step.
func TestEveryMetricHasAValue(t *testing.T) {
	r := sampleResults()
	for _, m := range threshold.Metrics() {
		if _, ok := MetricValue(r, m.Name); !ok {
			t.Errorf("%s has no value", m.Name)
		}
	}
	if v, _ := MetricValue(r, "latency.end_to_end.p9999"); v < float64(r.Latency.EndToEnd.P999US) {
		t.Errorf("p99.99 %v below p99.9", v)
	}
}
