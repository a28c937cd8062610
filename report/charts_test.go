package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/mqcheck/mqcheck/checker"
)

// chartSVGs renders a page and returns each chart's SVG by its id.
func chartSVGs(t *testing.T, f func(io.Writer) error) map[string]string {
	t.Helper()
	page := render(t, f)
	out := map[string]string{}
	re := regexp.MustCompile(`id="chart-([a-z0-9-]+)"><img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"`)
	for _, m := range re.FindAllSubmatch(page, -1) {
		svg, err := base64.StdEncoding.DecodeString(string(m[2]))
		if err != nil {
			t.Fatal(err)
		}
		out[string(m[1])] = string(svg)
	}
	return out
}

// filledRects are the rectangles an SVG fills with colour (as vgsvg writes
// it, "#D52627"), as [x0, x1, y0, y1].
func filledRects(t *testing.T, svg, colour string) [][4]float64 {
	t.Helper()
	re := regexp.MustCompile(`<path d="([^"]+)" style="fill:` + colour + `[;"]`)
	num := regexp.MustCompile(`-?[0-9.]+(?:e-?[0-9]+)?`)
	var out [][4]float64
	for _, m := range re.FindAllStringSubmatch(svg, -1) {
		r := [4]float64{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
		for i, s := range num.FindAllString(m[1], -1) {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				r[0], r[1] = min(r[0], v), max(r[1], v)
			} else {
				r[2], r[3] = min(r[2], v), max(r[3], v)
			}
		}
		out = append(out, r)
	}
	return out
}

// TestTimeChartsShareXAxis reads the fault window where each time chart
// of a run shades it: the same points on every chart, so a reader's eye
// goes straight down from a throughput dip to the p99 spike.
func TestTimeChartsShareXAxis(t *testing.T) {
	svgs := chartSVGs(t, func(w io.Writer) error { return HTML(w, sampleRun()) })
	ids := []string{"rate", "throughput", "lag", "p99", "anomalies", "evidence"}
	var first [4]float64
	for i, id := range ids {
		svg, ok := svgs[id]
		if !ok {
			t.Fatalf("no chart %s", id)
		}
		// The shaded window is the tallest rectangle in the fault colour;
		// the legend's swatch is small.
		rects := filledRects(t, svg, "#D52627")
		if len(rects) == 0 {
			t.Fatalf("%s: no fault window", id)
		}
		band := slices.MaxFunc(rects, func(a, b [4]float64) int {
			return int(math.Round((a[3] - a[2]) - (b[3] - b[2])))
		})
		if i == 0 {
			first = band
			continue
		}
		if math.Abs(band[0]-first[0]) > 0.05 || math.Abs(band[1]-first[1]) > 0.05 {
			t.Errorf("%s shades the fault at x %.2f-%.2f, %s at %.2f-%.2f", id, band[0], band[1], ids[0], first[0], first[1])
		}
	}
}

// TestChartsAligned checks the plot area of every chart of a run, the
// percentile chart's too, spans the same points once drawn.
func TestChartsAligned(t *testing.T) {
	r := sampleResults()
	pub, e2e := histograms(r)
	cs, err := buildRunCharts(r, pub, e2e)
	if err != nil {
		t.Fatal(err)
	}
	full := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: chartW, Y: chartH}}}
	left, right := vg.Length(0), vg.Points(12)
	var before []string
	for _, c := range cs {
		l, r := dataMargins(c.p, full)
		left, right = max(left, l), max(right, r)
		before = append(before, fmt.Sprintf("%.1f", float64(l)))
	}
	if slices.Equal(before, slices.Repeat(before[:1], len(before))) {
		t.Fatalf("every chart has the same left margin before aligning (%v): the test shows nothing", before)
	}
	for _, c := range cs {
		cl, cr := cropFor(c.p, full, left, right)
		d := c.p.DataCanvas(draw.Crop(full, cl, -cr, 0, 0))
		if math.Abs(float64(d.Min.X-left)) > 0.05 || math.Abs(float64(full.Max.X-d.Max.X-right)) > 0.05 {
			t.Errorf("%s: plot area %.2f-%.2f, want %.2f-%.2f", c.id, d.Min.X, d.Max.X, left, full.Max.X-right)
		}
	}
}

// TestThroughputBarsInsidePlot: every group of bars keeps clear of the
// frame, however many runs.
func TestThroughputBarsInsidePlot(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8} {
		var runs []*Run
		for range n {
			runs = append(runs, sampleRun())
		}
		svg := chartSVGs(t, func(w io.Writer) error { return HTMLRuns(w, runs) })["cmp-throughput"]
		// The y axis line: the left edge of the plot.
		axis := regexp.MustCompile(`<path d="M([0-9.]+),[0-9.]+L([0-9.]+),[0-9.]+" style="fill:none;stroke:#000000;stroke-width:0.5"`)
		axisX := math.Inf(1)
		for _, m := range axis.FindAllStringSubmatch(svg, -1) {
			if m[1] == m[2] {
				x, _ := strconv.ParseFloat(m[1], 64)
				axisX = min(axisX, x)
			}
		}
		var bars [][4]float64
		for _, c := range []string{"#0072B2", "#D55E00", "#009E73"} {
			for _, r := range filledRects(t, svg, c) {
				if r[3]-r[2] > 20 { // not a legend swatch
					bars = append(bars, r)
				}
			}
		}
		if len(bars) != 3*n {
			t.Fatalf("%d runs: %d bars, want %d", n, len(bars), 3*n)
		}
		for _, b := range bars {
			if b[0] < axisX+5 || b[1] > float64(chartW)-15 {
				t.Errorf("%d runs: a bar spans x %.1f-%.1f, outside the plot (%.1f-%.1f)", n, b[0], b[1], axisX, float64(chartW))
			}
		}
	}
}

func TestDurationTicksLabelTheTop(t *testing.T) {
	tests := []struct {
		max  float64 // data maximum, µs
		want string  // the top label
	}{
		{4_550_000, "10s"}, // 5.46s rounds up to the next decade
		{3_000_000, "5s"},
		{1_500_000, "2s"},
		{700, "1ms"},
	}
	for _, tt := range tests {
		top := niceAbove(tt.max * 1.2)
		var labels []string
		for _, tk := range (durationTicks{}).Ticks(60, top) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if len(labels) == 0 || labels[len(labels)-1] != tt.want {
			t.Errorf("max %vµs: axis to %v labelled %v, want the top labelled %s", tt.max, top, labels, tt.want)
		}
	}
}

// passWithDuplicates is a run whose only anomaly, duplicates, is allowed by
// its claims.
func passWithDuplicates() *Run {
	run := sampleRun()
	r := run.Results
	yes := true
	r.Verdict, r.Thresholds = checker.Pass, nil
	r.Scenario.Claims = []string{"at-least-once"}
	r.Claims = []checker.Claim{{Name: "at-least-once", Verdict: checker.Pass, Holds: &yes, Summary: "all received"}}
	r.Counts.Reordered = 0
	r.Examples = map[string][]checker.Example{"duplicated": r.Examples["duplicated"]}
	for i := range r.Timeline {
		r.Timeline[i].Reordered = 0
		r.Timeline[i].Anomalies = min(r.Timeline[i].Anomalies, 10)
	}
	return run
}

// TestAllowedAnomaliesAreNotRed: duplicates under at-least-once are not
// drawn or printed in red on a passing run; once a claim forbids them,
// they are.
func TestAllowedAnomaliesAreNotRed(t *testing.T) {
	reds := []string{"#CF222E", "#D55E00", "#800000"}
	pass := passWithDuplicates()
	page := render(t, func(w io.Writer) error { return HTML(w, pass) })
	if !bytes.Contains(page, []byte(`<td class="num allowed" title="no claim of this run forbids it">10</td>`)) {
		t.Errorf("the duplicated count is not shown as allowed")
	}
	if bytes.Contains(page, []byte(`class="num bad"`)) {
		t.Errorf("a passing run shows a count in red")
	}
	svgs := chartSVGs(t, func(w io.Writer) error { return HTML(w, pass) })
	for _, id := range []string{"anomalies", "evidence"} {
		for _, red := range reds {
			if strings.Contains(svgs[id], red) {
				t.Errorf("%s: a passing run draws %s", id, red)
			}
		}
	}
	if !strings.Contains(svgs["anomalies"], "duplicated 10, allowed by the claims") {
		t.Errorf("the legend does not say the duplicates are allowed")
	}

	fail := passWithDuplicates()
	no := false
	fail.Results.Verdict = checker.Fail
	fail.Results.Claims = []checker.Claim{{Name: "exactly-once", Verdict: checker.Fail, Holds: &no, Summary: "10 duplicates"}}
	page = render(t, func(w io.Writer) error { return HTML(w, fail) })
	if !bytes.Contains(page, []byte(`<td class="num bad" title="breaks exactly-once">10</td>`)) {
		t.Errorf("duplicates that broke exactly-once are not shown in red")
	}
	svgs = chartSVGs(t, func(w io.Writer) error { return HTML(w, fail) })
	if !strings.Contains(svgs["anomalies"], "stroke:"+reds[0]) || !strings.Contains(svgs["anomalies"], "breaks exactly-once") {
		t.Errorf("duplicates that broke exactly-once are not drawn in red")
	}
}

// TestClaimForbidsAgreesWithChecker runs the checker on a history with
// one kind of anomaly at a time and checks the report blames exactly the
// claims the checker failed.
func TestClaimForbidsAgreesWithChecker(t *testing.T) {
	claims := []string{"at-least-once", "at-most-once", "exactly-once", "ordered"}
	for _, tt := range []struct {
		kind     string
		received []uint64 // delivery order of seqs 0..9, sent and acked
	}{
		{"lost", []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"duplicated", []uint64{0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9}},
		{"reordered", []uint64{0, 1, 2, 3, 4, 6, 5, 7, 8, 9}},
	} {
		names := checker.NewNames("sub-0")
		c := checker.New(names)
		dom := names.Domain(0, "p0")
		events := []checker.Event{{Kind: checker.Sent, Seq: 0, Count: 10, At: 1}}
		for s := range uint64(10) {
			events = append(events, checker.Event{Kind: checker.Acked, Seq: s, At: 2})
		}
		for _, s := range tt.received {
			events = append(events, checker.Event{Kind: checker.Received, Domain: dom, Seq: s, At: 3})
		}
		c.Apply(events)
		res := c.Finalize(checker.Options{Drained: true, Claims: claims})
		r := &Results{Counts: res.Counts, Claims: res.Claims}
		var failed []string
		for _, cl := range res.Claims {
			if cl.Verdict == checker.Fail {
				failed = append(failed, cl.Name)
			}
			if got := slices.Contains(claimForbids[cl.Name], tt.kind); got != (cl.Verdict == checker.Fail) {
				t.Errorf("%s: the checker says %s %s, the report's table says it forbids it: %v", tt.kind, cl.Name, cl.Verdict, got)
			}
		}
		if got := brokenBy(r, tt.kind); !slices.Equal(got, failed) || len(failed) == 0 {
			t.Errorf("%s broke %v, the checker failed %v", tt.kind, got, failed)
		}
	}
}

// TestAnomalyChartKinds draws one line per kind from the timeline, and
// falls back to the running total for results written before the
// timeline counted kinds.
func TestAnomalyChartKinds(t *testing.T) {
	r := sampleResults()
	p, err := anomalyChart(r, kindStyles(r, anomalyKinds))
	if err != nil || p == nil {
		t.Fatalf("no chart: %v", err)
	}
	if p.Y.Max < 10 {
		t.Errorf("the y axis ends at %v, below the 10 duplicates", p.Y.Max)
	}
	old := sampleResults()
	for i := range old.Timeline {
		old.Timeline[i].Duplicated, old.Timeline[i].Reordered = 0, 0
	}
	svgs := chartSVGs(t, func(w io.Writer) error { return HTML(w, &Run{Results: old}) })
	if s := svgs["anomalies"]; !strings.Contains(s, "duplicated + reordered + corrupted + unexpected 12, breaks ordered") {
		t.Errorf("results without kinds: no running total in the anomalies chart")
	}
	clean := sampleResults()
	for i := range clean.Timeline {
		clean.Timeline[i].Duplicated, clean.Timeline[i].Reordered, clean.Timeline[i].Anomalies = 0, 0, 0
	}
	if s := chartSVGs(t, func(w io.Writer) error { return HTML(w, &Run{Results: clean}) })["anomalies"]; !strings.Contains(s, "none seen") {
		t.Errorf("a run without anomalies does not say so")
	}
}

func TestRateSummary(t *testing.T) {
	r := sampleResults()
	if got, want := rateSummary(r), "load fixed-rate: target 2,000/s, achieved 2,000/s (100.0%): 40,000 of 40,005 intended sends made, 5 never sent"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Results of an older mqcheck have no load section: the scenario's
	// rate and the counts tell what they can.
	r.Load = LoadResult{}
	if got, want := rateSummary(r), "target 2,000/s, sent 2,000/s on average (100.0%): 40,000 of 40,000 intended sends made"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	r.Counts.Sent = 39_000
	r.Throughput.SentPerS = 1950
	if got, want := rateSummary(r), "target 2,000/s, sent 1,950/s on average (97.5%): 39,000 of 40,000 intended sends made, 1,000 never made"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	r.Scenario.Rate = "max"
	r.Throughput.SentPerS = 76_000
	if got, want := rateSummary(r), "closed loop (rate max): no target rate, producers sent as fast as the broker confirmed, 76,000/s on average"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	svgs := chartSVGs(t, func(w io.Writer) error { return HTML(w, &Run{Results: r}) })
	if _, ok := svgs["rate"]; ok {
		t.Errorf("a closed-loop run has a target rate chart")
	}
	if _, ok := svgs["throughput"]; !ok {
		t.Errorf("a closed-loop run lost its throughput chart")
	}
}

func TestRunLabels(t *testing.T) {
	a, b, c := sampleRun(), sampleRun(), sampleRun()
	b.Results.RunID = "ffeeddccbbaa9988"
	c.Results.Scenario.Broker = "rabbitmq"
	if got, want := runLabels([]*Run{a, b, c}, true), []string{"sample · kafka · run 00112233aabbccdd",
		"sample · kafka · run ffeeddccbbaa9988", "sample · rabbitmq"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Markdown has a broker column: the label leaves the broker out.
	if got, want := runLabels([]*Run{a, b, c}, false), []string{"sample · run 00112233aabbccdd",
		"sample · run ffeeddccbbaa9988", "sample"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// The same run twice.
	if got, want := runLabels([]*Run{sampleRun(), sampleRun()}, true), []string{"sample · kafka · run 00112233aabbccdd (1)",
		"sample · kafka · run 00112233aabbccdd (2)"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	a.Label, b.Label = "kafka 3.7", "kafka 3.8"
	if got, want := runLabels([]*Run{a, b}, true), []string{"kafka 3.7", "kafka 3.8"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	page := render(t, func(w io.Writer) error { return HTMLRuns(w, []*Run{a, b}) })
	for _, l := range []string{"<td>kafka 3.7</td>", "<td>kafka 3.8</td>", "<h1>kafka 3.7 <span"} {
		if !bytes.Contains(page, []byte(l)) {
			t.Errorf("the page lacks %s", l)
		}
	}
	svg := chartSVGs(t, func(w io.Writer) error { return HTMLRuns(w, []*Run{a, b}) })["cmp-e2e"]
	if !strings.Contains(svg, ">kafka 3.7<") || !strings.Contains(svg, ">kafka 3.8<") {
		t.Errorf("the latency chart's legend does not tell the runs apart")
	}
}
