package report

import (
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/plural"
)

//go:embed report.html.tmpl
var htmlSource string

// The page is one file: styles inline, charts as SVG data URIs, no script.
// html/template escapes every value from a broker or a scenario, and the
// page's Content-Security-Policy forbids scripts and network loads, so even
// a value that slipped through could not run or call out.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper":  strings.ToUpper,
	"plural": plural.Of[int],
	"vclass": verdictClass,
	"rate":   fmtRate,
	"ms":     fmtMS,
	"us":     fmtUS,
	"plabels": func() []string {
		out := make([]string, len(htmlPercentiles))
		for i, p := range htmlPercentiles {
			out[i] = p.label
		}
		return out
	},
}).Parse(htmlSource))

type htmlPage struct {
	Title string
	Tool  string
	Runs  []*htmlRun
	// Charts compare several runs; empty for one run.
	Charts []htmlChart
	// Table compares several runs, one row each.
	Table []htmlCompareRow
}

type htmlChart struct {
	ID, Title, Caption string
	// Src is the img's src attribute: a data URI of our own SVG in
	// base64, whose alphabet needs no escaping (html/template would
	// escape each + and grow the page).
	Src template.HTMLAttr
}

type htmlRun struct {
	R *Results
	// Label heads the run on a page of several.
	Label      string
	Target     string
	Load       string
	Rate       string
	Drain      string
	Claims     []htmlClaim
	Thresholds []ThresholdResult
	SendCounts []htmlCount
	RecvCounts []htmlCount
	// Layers are received and processed side by side (idempotent
	// consumers), Processing the consumers' own account.
	Layers     []htmlLayer
	Processing string
	Latency    []htmlLatency
	// Clocks says how far a merged run's end-to-end latency may be off,
	// ClocksUncertain whether past ClockNoteUS.
	Clocks          string
	ClocksUncertain bool
	Throughput      string
	Faults          []htmlFault
	Notices         []Notice
	MoreNotice      int
	Charts          []htmlChart
	Scenario        string
}

// htmlLayer is one row of the received and processed layers.
type htmlLayer struct {
	Name                string
	Received, Processed htmlCount
}

type htmlClaim struct {
	Name, Verdict, Summary string
	Evidence               []string
}

type htmlCount struct {
	Name, Value string
	// Class is "bad" for an anomaly that broke a claim, "allowed" for one
	// the claims allow, empty otherwise.
	Class, Note string
}

type htmlLatency struct {
	Name  string
	Count string
	Cells []string // at htmlPercentiles, then max and mean
}

type htmlFault struct {
	Target, At, For, Publish, Deliver, Error     string
	Schedule, Unavailable, Throughput, Anomalies string
}

type htmlCompareRow struct {
	Label, Verdict, Sent, Received, PubP99, E2EP50, E2EP99, E2EP999, E2EMax string
	Lost, Duplicated, Reordered                                             string
	Claims                                                                  []htmlClaim
}

var htmlPercentiles = []struct {
	label string
	p     float64
}{{"p50", 50}, {"p75", 75}, {"p90", 90}, {"p95", 95}, {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99}}

// HTML writes the report of one run: verdict, claims with evidence,
// thresholds, latency distributions, throughput, lag and anomalies over
// time with fault windows shaded, faults, notices and the resolved scenario.
func HTML(w io.Writer, run *Run) error {
	hr, err := htmlRunOf(run)
	if err != nil {
		return err
	}
	page := htmlPage{Title: "mqcheck " + run.Results.Scenario.Name + ": " + strings.ToUpper(run.Results.Verdict),
		Tool: run.Results.Tool, Runs: []*htmlRun{hr}}
	if err := htmlTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("rendering the HTML report: %w", err)
	}
	return nil
}

// HTMLRuns writes several runs side by side (the same scenario on
// different brokers): overlaid latency distributions, throughput bars, a
// table of claims and figures per run, then each run in full.
func HTMLRuns(w io.Writer, runs []*Run) error {
	page := htmlPage{Title: fmt.Sprintf("mqcheck: %d runs side by side", len(runs))}
	labels := runLabels(runs, true)
	var e2e, pub []latencySeries
	for i, run := range runs {
		hr, err := htmlRunOf(run)
		if err != nil {
			return err
		}
		hr.Label = labels[i]
		page.Runs = append(page.Runs, hr)
		if page.Tool == "" {
			page.Tool = run.Results.Tool
		}
		p, e := histograms(run.Results)
		e2e = append(e2e, latencySeries{name: labels[i], h: e, color: i})
		pub = append(pub, latencySeries{name: labels[i], h: p, color: i, dashed: true})
		r := run.Results
		row := htmlCompareRow{Label: labels[i], Verdict: r.Verdict,
			Sent: fmtRate(r.Throughput.SentPerS), Received: fmtRate(r.Throughput.ReceivedPerS),
			PubP99: fmtUS(r.Latency.Publish.P99US), E2EP50: fmtUS(r.Latency.EndToEnd.P50US),
			E2EP99: fmtUS(r.Latency.EndToEnd.P99US), E2EP999: fmtUS(r.Latency.EndToEnd.P999US),
			E2EMax: fmtUS(r.Latency.EndToEnd.MaxUS), Lost: fmtN(r.Counts.Lost),
			Duplicated: fmtN(r.Counts.Duplicated), Reordered: fmtN(r.Counts.Reordered), Claims: hr.Claims}
		page.Table = append(page.Table, row)
	}
	var cs []chart
	for _, c := range []struct {
		id, title string
		series    []latencySeries
	}{{"cmp-e2e", "End-to-end latency by run", e2e}, {"cmp-publish", "Publish latency by run", pub}} {
		p, err := percentileChart(c.title, c.series)
		if err != nil {
			return err
		}
		cs = appendPlot(cs, c.id, c.title, "Percentile distribution, one line per run.", p)
	}
	p, err := throughputBars(runs, labels)
	if err != nil {
		return err
	}
	cs = appendPlot(cs, "cmp-throughput", "Throughput by run", "Average rates over the load phase.", p)
	if page.Charts, err = drawAligned(cs); err != nil {
		return err
	}
	if err := htmlTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("rendering the HTML report: %w", err)
	}
	return nil
}

func htmlRunOf(run *Run) (*htmlRun, error) {
	r := run.Results
	hr := &htmlRun{R: r, Scenario: string(run.Scenario), Thresholds: r.Thresholds, Rate: rateSummary(r),
		Load: strings.TrimPrefix(runLoadLine(r), "load "), Target: targetLine(r),
		Throughput: fmt.Sprintf("sent %s, acked %s, received %s", fmtRate(r.Throughput.SentPerS),
			fmtRate(r.Throughput.AckedPerS), fmtRate(r.Throughput.ReceivedPerS)),
	}
	if r.Measured() {
		hr.Drain = "drain " + drainLine(r.Drain, "INCOMPLETE")
	}
	for _, c := range r.Claims {
		hc := htmlClaim{Name: c.Name, Verdict: c.Verdict, Summary: c.Summary}
		for _, x := range c.Evidence {
			hc.Evidence = append(hc.Evidence, r.EvidenceLine(x))
		}
		hr.Claims = append(hr.Claims, hc)
	}
	c := r.Counts
	count := func(name string, v uint64, anomaly bool) htmlCount {
		hc := htmlCount{Name: name, Value: fmtN(v)}
		if anomaly && v > 0 {
			hc.Class, hc.Note = "allowed", "no claim of this run forbids it"
			if b := brokenBy(r, strings.ReplaceAll(name, " ", "_")); len(b) > 0 {
				hc.Class, hc.Note = "bad", "breaks "+strings.Join(b, ", ")
			}
		}
		return hc
	}
	hr.SendCounts = []htmlCount{count("sent", c.Sent, false), count("not sent", c.NotSent, false), count("acked", c.Acked, false),
		count("failed", c.Failed, false), count("indeterminate", c.Indeterminate, false),
		count("recovered", c.Recovered, false), count("phantom", c.Phantom, true)}
	hr.RecvCounts = []htmlCount{count("received", c.Received, false), count("unique", c.Unique, false),
		count("lost", c.Lost, true), count("unaccounted", c.Unaccounted, true), count("duplicated", c.Duplicated, true),
		count("stored twice", c.DuplicatedStored, true), count("position unknown", c.DuplicatedPositionUnknown, false),
		count("reordered", c.Reordered, true), count("corrupted", c.Corrupted, true), count("unexpected", c.Unexpected, true),
		count("foreign", c.Foreign, false), count("dead-lettered", c.DeadLettered, false), count("rejected", c.Rejected, false)}
	if c.PayloadUnchecked > 0 {
		// Header-only checksums: the corrupted count leaves their
		// payloads out, and must not read as if it covered them.
		for i := range hr.RecvCounts {
			if hr.RecvCounts[i].Name == "corrupted" {
				hr.RecvCounts[i].Value = fmtCorrupted(&c)
				hr.RecvCounts[i].Note = strings.TrimSpace(hr.RecvCounts[i].Note + " " + checker.PayloadUncheckedNote(&c))
			}
		}
	}
	if c.Aborted > 0 || c.AbortedRead > 0 {
		// Only runs with transactions have these.
		hr.SendCounts = append(hr.SendCounts, count("aborted", c.Aborted, false))
		hr.RecvCounts = append(hr.RecvCounts, count("aborted read", c.AbortedRead, true))
	}
	for _, row := range layerRows(r) {
		hr.Layers = append(hr.Layers, htmlLayer{Name: row.Name, Received: count(row.RecvAnomaly, row.Received, row.RecvAnomaly != ""),
			Processed: count(row.ProcAnomaly, row.Processed, row.ProcAnomaly != "")})
	}
	hr.Processing = processingLine(r.Processing)
	pub, e2e := histograms(r)
	for _, l := range shownSeries(r.Latency) {
		h, _ := l.Histogram()
		hr.Latency = append(hr.Latency, latencyRow(latencyLabel(r, l), l.Latency, h))
	}
	hr.Clocks = clockLine(r)
	_, hr.ClocksUncertain, _ = clockBound(r)
	for _, f := range r.Faults {
		hr.Faults = append(hr.Faults, htmlFault{Target: faultName(f), At: fmtMS(f.StartMS), For: fmtMS(f.EndMS - f.StartMS),
			Publish: recovery(f.PublishRecoveryMS), Deliver: recovery(f.DeliverRecoveryMS), Error: f.Error,
			Schedule: faultSchedule(f), Unavailable: faultUnavailability(f), Throughput: faultThroughput(f),
			Anomalies: faultAnomalies(f)})
	}
	const maxNotices = 100
	hr.Notices = r.Notices
	if len(hr.Notices) > maxNotices {
		hr.Notices, hr.MoreNotice = hr.Notices[:maxNotices], len(r.Notices)-maxNotices
	}
	if !r.Measured() {
		return hr, nil // no chart of what was never measured
	}
	charts, err := runCharts(r, pub, e2e)
	if err != nil {
		return nil, err
	}
	hr.Charts = charts
	return hr, nil
}

// runCharts draws the charts of one run, aligned.
func runCharts(r *Results, pub, e2e *hdrhistogram.Histogram) ([]htmlChart, error) {
	cs, err := buildRunCharts(r, pub, e2e)
	if err != nil {
		return nil, err
	}
	return drawAligned(cs)
}

// buildRunCharts are the charts of one run; the time charts share one x
// axis.
func buildRunCharts(r *Results, pub, e2e *hdrhistogram.Histogram) ([]chart, error) {
	var cs []chart
	p, err := percentileChart("Latency by percentile", append([]latencySeries{
		{name: "end-to-end", h: e2e, color: 0}, {name: "publish (every outcome)", h: pub, color: 1, dashed: true}},
		outcomeSeries(r)...))
	if err != nil {
		return nil, err
	}
	cs = appendPlot(cs, "latency", "Latency by percentile",
		"Whole-run distribution, from the intended send time (send → ack from the actual send). "+
			"x: percentile on a 1/(1−p) scale; y: latency, log scale.", p)
	if p, err = rateChart(r); err != nil {
		return nil, err
	}
	cs = appendPlot(cs, "rate", "Target and achieved rate",
		"Below the target, intended sends were late (their latency counts from when they were due) or never made.", p)
	if p, err = timelineChart("Throughput", "messages per second", false, r, []timeLine{
		{name: "sent/s", value: func(s Second) (float64, bool) { return s.SentPerS, true }},
		{name: "acked/s", value: func(s Second) (float64, bool) { return s.AckedPerS, true }, color: 1},
		{name: "received/s", value: func(s Second) (float64, bool) { return s.ReceivedPerS, true }, color: 2},
	}); err != nil {
		return nil, err
	}
	cs = appendPlot(cs, "throughput", "Throughput", "Per second; fault windows shaded red, the drain grey.", p)
	if p, err = timelineChart("Consumer lag and messages in flight", "messages", false, r, []timeLine{
		{name: "consumer lag", value: func(s Second) (float64, bool) { return float64(s.Lag), s.Lag >= 0 }},
		{name: "in flight (published, unconfirmed)", value: func(s Second) (float64, bool) { return float64(s.InFlight), true }, color: 1},
	}); err != nil {
		return nil, err
	}
	cs = appendPlot(cs, "lag", "Consumer lag and in flight",
		"Lag is what the broker holds for the consumers; gaps where the broker could not tell.", p)
	if p, err = timelineChart("End-to-end and publish p99 per second", "latency", true, r, []timeLine{
		{name: "end-to-end p99", value: func(s Second) (float64, bool) { return float64(s.E2EP99US), s.E2EP99US > 0 }},
		{name: "publish p99", value: func(s Second) (float64, bool) { return float64(s.PublishP99US), s.PublishP99US > 0 }, color: 1},
	}); err != nil {
		return nil, err
	}
	cs = appendPlot(cs, "p99", "p99 per second", "Each second's own p99; gaps where nothing completed.", p)
	styles := kindStyles(r, anomalyKinds)
	if p, err = anomalyChart(r, styles); err != nil {
		return nil, err
	}
	cs = appendPlot(cs, "anomalies", "Anomalies by kind over time",
		"Each kind's count as the run saw it, a mark where it grew; red only where it broke a claim. "+
			"Loss is only known after the drain (see the examples below).", p)
	if p, err = evidenceChart(r, styles); err != nil {
		return nil, err
	}
	cs = appendPlot(cs, "evidence", "Anomaly examples over time",
		"Each kept example where it happened (a lost message: about when it was sent).", p)
	return cs, nil
}

// appendPlot adds a chart unless there is nothing to draw.
func appendPlot(cs []chart, id, title, caption string, p *plot.Plot) []chart {
	if p == nil {
		return cs
	}
	return append(cs, chart{id: id, title: title, caption: caption, p: p})
}

func appendChart(cs []htmlChart, id, title, caption string, svg []byte) []htmlChart {
	if svg == nil {
		return cs
	}
	src := `src="data:image/svg+xml;base64,` + base64.StdEncoding.EncodeToString(svg) + `"`
	return append(cs, htmlChart{ID: id, Title: title, Caption: caption, Src: template.HTMLAttr(src)})
}

// outcomeSeries are the latency curves drawn beside the headline: send →
// ack always, and each outcome's own when not every publish was acked (else
// acked is the headline again).
func outcomeSeries(r *Results) []latencySeries {
	var out []latencySeries
	mixed := r.Latency.PublishAcked.Count != r.Latency.Publish.Count
	for i, s := range r.Latency.Series() {
		if s.Count == 0 || s.Name == "publish" || s.Name == "end_to_end" || (!mixed && s.Name != "send_to_ack") {
			continue
		}
		if h, err := s.Histogram(); err == nil && h != nil {
			out = append(out, latencySeries{name: s.Label, h: h, color: i + 1})
		}
	}
	return out
}

// histograms decodes the whole-run histograms; a missing or unreadable one
// is nil, and what depends on it is left out.
func histograms(r *Results) (publish, endToEnd *hdrhistogram.Histogram) {
	publish, _ = r.Latency.Publish.Histogram()
	endToEnd, _ = r.Latency.EndToEnd.Histogram()
	return publish, endToEnd
}

func latencyRow(name string, l Latency, h *hdrhistogram.Histogram) htmlLatency {
	row := htmlLatency{Name: name, Count: fmtN(uint64(l.Count))}
	for _, p := range htmlPercentiles {
		var v int64
		switch {
		case h != nil && h.TotalCount() > 0:
			v = h.ValueAtQuantile(p.p)
		case p.p == 50:
			v = l.P50US
		case p.p == 90:
			v = l.P90US
		case p.p == 99:
			v = l.P99US
		case p.p == 99.9:
			v = l.P999US
		}
		row.Cells = append(row.Cells, fmtUS(v))
	}
	row.Cells = append(row.Cells, fmtUS(l.MaxUS), fmtUS(int64(l.MeanUS+0.5)))
	return row
}

func fmtRate(v float64) string { return fmtN(uint64(v+0.5)) + "/s" }

// verdictClass is the CSS class of a verdict.
func verdictClass(v string) string {
	switch v {
	case checker.Pass, checker.Fail:
		return v
	}
	return "unknown"
}
