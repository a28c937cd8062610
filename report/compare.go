package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/suggest"
	"github.com/mqcheck/mqcheck/report/threshold"
)

// CompareOptions say how far a new run may fall behind its base.
type CompareOptions struct {
	// Tolerance is the relative change allowed before a metric counts as
	// regressed (0.10: 10% slower, 10% less throughput, 10% more anomalies
	// per message sent).
	Tolerance float64
	// PerMetric overrides Tolerance by metric: a metric's name
	// (end_to_end.p99, received_per_s, lost), or a latency series
	// (end_to_end, publish) for every point of its curve.
	PerMetric map[string]float64
	// LatencySlack: a latency that grew by less than this many µs is
	// noise, whatever the relative change (scheduling jitter on a shared
	// CI machine is of this order).
	LatencySlack float64
	// MinTail is how many samples must lie above a percentile, in both
	// runs, for that point of the curve to count: p99.99 of 5,000 samples
	// is the maximum, one sample, and says nothing.
	MinTail int64
}

// DefaultCompareOptions: 10%, 1ms of latency slack, 10 samples of tail.
func DefaultCompareOptions() CompareOptions {
	return CompareOptions{Tolerance: 0.10, LatencySlack: 1000, MinTail: 10}
}

// Comparison is a new run measured against a base run.
type Comparison struct {
	Base, New *Results
	Options   CompareOptions
	Rows      []CompareRow
	// Regressed names every metric past its tolerance; empty: no regression.
	Regressed []string
	// Notes say why the comparison may mislead (different scenarios).
	Notes []string
}

// CompareRow is one metric of both runs.
type CompareRow struct {
	Section string `json:"section"` // throughput, latency.end_to_end, counts, verdict
	// Metric is the name --tolerance-metric takes.
	Metric    string  `json:"metric"`
	Label     string  `json:"label"` // as shown: p99.9, lost, sent_per_s
	Kind      string  `json:"kind"`  // count, duration, rate, verdict
	Base      float64 `json:"base"`
	New       float64 `json:"new"`
	BaseText  string  `json:"base_text"`
	NewText   string  `json:"new_text"`
	Change    string  `json:"change"` // +12.5%, -3.0%, new, =
	Tolerance float64 `json:"tolerance"`
	// Gated rows decide the outcome; the others are shown for context.
	Gated     bool   `json:"gated"`
	Regressed bool   `json:"regressed"`
	Note      string `json:"note,omitempty"`
}

// curvePoints are where latency curves are compared: four points per
// decade of 1/(1-p), the spacing of HdrHistogram's plots, from p68 to
// p99.999, plus the familiar p50 and p75. Every tail gets as many points
// as the body, so a regression in the tail weighs as much as one in the
// median.
func curvePoints() []float64 {
	ps := []float64{50, 75}
	for k := 2; k <= 20; k++ {
		// What lies above the percentile, to two significant digits,
		// so points read as p96.8 and p99.944, not p96.8377.
		above := 100 * math.Pow(10, -float64(k)/4)
		scale := math.Pow(10, 1-math.Floor(math.Log10(above)))
		p := 100 - math.Round(above*scale)/scale
		ps = append(ps, math.Round(p*1e6)/1e6)
	}
	sort.Float64s(ps)
	return ps
}

// Compare measures new against base. The decision is on throughput, the
// anomaly rates, the verdict and claims, and the whole latency
// distributions: each curve is compared at many percentiles (curvePoints),
// and any point slower than its tolerance (and than LatencySlack) is a
// regression. A two-sample test (Kolmogorov-Smirnov) was not chosen: with
// tens of thousands of samples it calls every jitter significant, and its
// statistic is a distance between CDFs, which a tail regression (p99.9
// doubling) barely moves. Percentile curves are what people read and set
// tolerances on.
func Compare(base, new *Run, o CompareOptions) *Comparison {
	b, n := base.Results, new.Results
	c := &Comparison{Base: b, New: n, Options: o}
	if b.Scenario.Name != n.Scenario.Name {
		c.note("the runs are of different scenarios (%s, %s)", b.Scenario.Name, n.Scenario.Name)
	}
	if b.Scenario.Rate != n.Scenario.Rate || b.Scenario.MessageSize != n.Scenario.MessageSize ||
		b.Scenario.Producers != n.Scenario.Producers || b.Scenario.DurationMS != n.Scenario.DurationMS {
		c.note("the load differs (%s vs %s, %d vs %d bytes, %d vs %d producers)", b.Scenario.Rate, n.Scenario.Rate,
			b.Scenario.MessageSize, n.Scenario.MessageSize, b.Scenario.Producers, n.Scenario.Producers)
	}
	for _, r := range []*Results{b, n} {
		if r.Partial || r.Error != "" {
			c.note("run %s did not finish cleanly: %s", r.RunID, firstNonEmpty(r.Error, "partial results"))
		}
	}
	c.verdicts()
	c.throughput()
	for _, series := range threshold.LatencySeries() {
		bl, _ := b.Latency.Get(series)
		nl, _ := n.Latency.Get(series)
		c.latency(series, bl, nl)
	}
	c.counts()
	for _, r := range c.Rows {
		if r.Regressed {
			c.Regressed = append(c.Regressed, r.Metric)
		}
	}
	return c
}

// Summary names what regressed for a person: each latency series once,
// with the span of its curve that regressed and the worst change; the
// other metrics by name.
func (c *Comparison) Summary() []string {
	var out []string
	type span struct {
		first, last, worst string
		worstPct           float64
	}
	spans := map[string]*span{}
	for _, r := range c.Rows {
		if !r.Regressed {
			continue
		}
		if !strings.HasPrefix(r.Section, "latency.") {
			out = append(out, r.Metric)
			continue
		}
		series := strings.TrimPrefix(r.Section, "latency.")
		sp := spans[series]
		if sp == nil {
			sp = &span{first: r.Label}
			spans[series] = sp
			out = append(out, series)
		}
		sp.last = r.Label
		if pct := (r.New - r.Base) / r.Base; pct > sp.worstPct {
			sp.worst, sp.worstPct = r.Label, pct
		}
	}
	for i, name := range out {
		if sp, ok := spans[name]; ok {
			rng := sp.first
			if sp.last != sp.first {
				rng += "…" + sp.last
			}
			out[i] = fmt.Sprintf("%s latency %s (worst %+.1f%% at %s)", name, rng, sp.worstPct*100, sp.worst)
		}
	}
	return out
}

func (c *Comparison) note(format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// tolerance for a metric: its own, its series', or the default.
func (c *Comparison) tolerance(names ...string) float64 {
	for _, n := range names {
		if t, ok := c.Options.PerMetric[n]; ok {
			return t
		}
	}
	return c.Options.Tolerance
}

func (c *Comparison) verdicts() {
	rank := map[string]float64{checker.Pass: 0, checker.Unknown: 1, checker.Fail: 2}
	row := CompareRow{Section: "verdict", Metric: "verdict", Label: "verdict", Kind: "verdict",
		Base: rank[c.Base.Verdict], New: rank[c.New.Verdict], BaseText: c.Base.Verdict, NewText: c.New.Verdict, Gated: true}
	row.Regressed = c.Base.Verdict == checker.Pass && c.New.Verdict == checker.Fail
	row.Change = changeWord(c.Base.Verdict, c.New.Verdict)
	c.Rows = append(c.Rows, row)
	baseClaims := map[string]string{}
	for _, cl := range c.Base.Claims {
		baseClaims[cl.Name] = cl.Verdict
	}
	for _, cl := range c.New.Claims {
		bv, ok := baseClaims[cl.Name]
		if !ok {
			bv = "-"
		}
		c.Rows = append(c.Rows, CompareRow{Section: "verdict", Metric: "claims." + cl.Name, Label: cl.Name, Kind: "verdict",
			BaseText: bv, NewText: cl.Verdict, Change: changeWord(bv, cl.Verdict), Gated: true,
			Regressed: bv == checker.Pass && cl.Verdict == checker.Fail})
	}
}

func changeWord(a, b string) string {
	if a == b {
		return "="
	}
	return a + " → " + b
}

func (c *Comparison) throughput() {
	b, n := c.Base.Throughput, c.New.Throughput
	for _, f := range []struct {
		name   string
		bv, nv float64
	}{{"sent_per_s", b.SentPerS, n.SentPerS}, {"acked_per_s", b.AckedPerS, n.AckedPerS},
		{"received_per_s", b.ReceivedPerS, n.ReceivedPerS}} {
		tol := c.tolerance(f.name, "throughput."+f.name)
		row := CompareRow{Section: "throughput", Metric: f.name, Label: f.name, Kind: threshold.Rate.String(),
			Base: f.bv, New: f.nv, BaseText: fmtRate(f.bv), NewText: fmtRate(f.nv), Change: relChange(f.bv, f.nv),
			Tolerance: tol, Gated: f.bv > 0}
		row.Regressed = row.Gated && f.nv < f.bv*(1-tol)
		c.Rows = append(c.Rows, row)
	}
}

// latency compares one series' curves point by point.
func (c *Comparison) latency(series string, bl, nl Latency) {
	section := "latency." + series
	bh, _ := bl.Histogram()
	nh, _ := nl.Histogram()
	at := func(h *hdrhistogram.Histogram, l Latency, p float64) (float64, bool) {
		if h != nil && h.TotalCount() > 0 {
			return float64(h.ValueAtQuantile(p)), true
		}
		v, ok := map[float64]int64{50: l.P50US, 90: l.P90US, 99: l.P99US, 99.9: l.P999US}[p]
		return float64(v), ok && l.Count > 0
	}
	names := map[float64]string{}
	for _, s := range threshold.LatencyStats() {
		if s.Percentile > 0 {
			names[s.Percentile] = s.Name
		}
	}
	points := curvePoints()
	if minTail := float64(c.Options.MinTail); float64(bl.Count)/2 < minTail || float64(nl.Count)/2 < minTail {
		// Too few samples for any point of the curve to count (a few
		// failed publishes): the median and the tail are shown, not judged.
		points = []float64{50, 99}
	}
	for _, p := range points {
		bv, ok1 := at(bh, bl, p)
		nv, ok2 := at(nh, nl, p)
		if !ok1 || !ok2 {
			continue
		}
		label := "p" + strconv.FormatFloat(p, 'f', -1, 64)
		metric := series + "." + label
		if n, ok := names[p]; ok {
			metric = series + "." + n
		}
		tol := c.tolerance(metric, series+"."+label, series, "latency."+series)
		row := CompareRow{Section: section, Metric: metric, Label: label, Kind: threshold.Duration.String(),
			Base: bv, New: nv, BaseText: fmtUS(int64(bv)), NewText: fmtUS(int64(nv)), Change: relChange(bv, nv),
			Tolerance: tol, Gated: true}
		tail := func(count int64) float64 { return float64(count) * (1 - p/100) }
		if minTail := float64(c.Options.MinTail); tail(bl.Count) < minTail || tail(nl.Count) < minTail {
			row.Gated, row.Note = false, fmt.Sprintf("fewer than %d samples above it", c.Options.MinTail)
		}
		row.Regressed = row.Gated && nv > bv*(1+tol) && nv-bv > c.Options.LatencySlack
		if row.Gated && !row.Regressed && nv > bv*(1+tol) {
			row.Note = "within the latency slack"
		}
		c.Rows = append(c.Rows, row)
	}
	if bl.Count > 0 && nl.Count > 0 {
		c.Rows = append(c.Rows,
			CompareRow{Section: section, Metric: series + ".max", Label: "max", Kind: threshold.Duration.String(),
				Base: float64(bl.MaxUS), New: float64(nl.MaxUS), BaseText: fmtUS(bl.MaxUS), NewText: fmtUS(nl.MaxUS),
				Change: relChange(float64(bl.MaxUS), float64(nl.MaxUS)), Note: "one sample: shown, not judged"},
			CompareRow{Section: section, Metric: series + ".count", Label: "count", Kind: threshold.Count.String(),
				Base: float64(bl.Count), New: float64(nl.Count), BaseText: fmtN(uint64(bl.Count)), NewText: fmtN(uint64(nl.Count)),
				Change: relChange(float64(bl.Count), float64(nl.Count))})
	}
}

// anomalyCounts are judged per message sent, so a longer or faster run is
// not a regression by itself.
var anomalyCounts = []string{"lost", "unaccounted", "duplicated", "duplicated_stored", "reordered", "corrupted", "unexpected",
	"phantom", "failed", "indeterminate", "not_sent", "aborted_read"}

func (c *Comparison) counts() {
	bs, ns := math.Max(float64(c.Base.Counts.Sent), 1), math.Max(float64(c.New.Counts.Sent), 1)
	for _, name := range anomalyCounts {
		bv, _ := countValue(c.Base.Counts, name)
		nv, _ := countValue(c.New.Counts, name)
		tol := c.tolerance(name, "counts."+name)
		row := CompareRow{Section: "counts", Metric: name, Label: name, Kind: threshold.Count.String(),
			Base: bv, New: nv, BaseText: fmtN(uint64(bv)), NewText: fmtN(uint64(nv)), Tolerance: tol, Gated: true,
			Change: relChange(bv/bs, nv/ns)}
		// Any anomaly where the base had none is a regression; otherwise
		// the rate per message sent must grow past the tolerance.
		row.Regressed = nv > bv && (bv == 0 || nv/ns > bv/bs*(1+tol))
		if bv > 0 || nv > 0 {
			row.Note = fmt.Sprintf("per million sent: %.1f → %.1f", bv/bs*1e6, nv/ns*1e6)
		}
		c.Rows = append(c.Rows, row)
	}
}

// relChange is the relative change from a to b, as people read it.
func relChange(a, b float64) string {
	switch {
	case a == b:
		return "="
	case a == 0:
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", (b-a)/a*100)
}

// ParseTolerance reads "10%" or "0.1".
func ParseTolerance(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("tolerance %q: want a percentage such as 10%% or 2.5%%", s)
	}
	if pct {
		v /= 100
	}
	return v, nil
}

// CompareMetricNames lists what --tolerance-metric accepts, for checking
// and suggesting: throughput and count names, latency series and their
// percentiles.
func CompareMetricNames() []string {
	names := append([]string{"verdict"}, ThroughputNames()...)
	names = append(names, anomalyCounts...)
	for _, s := range threshold.LatencySeries() {
		names = append(names, s)
		for _, st := range threshold.LatencyStats() {
			if st.Percentile > 0 {
				names = append(names, s+"."+st.Name)
			}
		}
		for _, p := range curvePoints() {
			names = append(names, s+".p"+strconv.FormatFloat(p, 'f', -1, 64))
		}
	}
	return names
}

// CompareMetric finds the compare metric a user names (--tolerance-metric):
// its name as CompareMetricNames lists it, also written with its group
// (latency.end_to_end.p99, counts.lost), "-" for "_", in any case. The
// error names the closest one.
func CompareMetric(name string) (string, error) {
	n := threshold.Normalize(name)
	for _, prefix := range []string{"latency.", "counts.", "throughput."} {
		n = strings.TrimPrefix(n, prefix)
	}
	known := CompareMetricNames()
	if slices.Contains(known, n) {
		return n, nil
	}
	hint := " (latency: end_to_end, publish, end_to_end.p99, ...; throughput: sent_per_s, acked_per_s, received_per_s; counts: lost, duplicated, ...)"
	if best, ok := suggest.Closest(n, known); ok {
		hint = fmt.Sprintf(", did you mean %q?", best)
	}
	return "", fmt.Errorf("unknown metric %q%s", name, hint)
}

// ThroughputNames are the rates compare judges.
func ThroughputNames() []string { return threshold.ThroughputFields() }
