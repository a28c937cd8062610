// Package metrics serves a run's live figures in the Prometheus text format,
// for long soaks watched in Grafana; it only reads what the runner measures.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/swarm"
)

// Run identifies the run in the mqcheck_run_info series.
type Run struct {
	Scenario string
	Broker   string
	// Load is the planned load phase.
	Load time.Duration
}

// Exporter is a runner.Observer and a prometheus.Collector. Counts that
// only grow (sent, acked, received, anomalies) and the in-flight gauge are
// read live at each scrape; rates, lag, percentiles and faults are the last
// timeline row, refreshed once per second.
type Exporter struct {
	run Run

	mu     sync.Mutex
	runID  string
	totals func() swarm.Totals
	row    report.Second
	rows   int
	// faults ever seen, so that a healed one reads 0 rather than vanishing
	// from the scrape (Grafana draws the end of the window).
	faults map[string]bool
	// interval: the last second's latency; whole: since the load started.
	interval map[string]report.Latency
	whole    map[string]*hdrhistogram.Histogram
}

var (
	_ runner.Observer      = (*Exporter)(nil)
	_ runner.Attacher      = (*Exporter)(nil)
	_ prometheus.Collector = (*Exporter)(nil)
)

// New returns an exporter for one run.
func New(r Run) *Exporter {
	return &Exporter{run: r, faults: map[string]bool{}, interval: map[string]report.Latency{},
		whole: map[string]*hdrhistogram.Histogram{latPublish: swarm.NewHistogram(), latE2E: swarm.NewHistogram()}}
}

// Attach implements runner.Attacher: from now on scrapes read live totals.
func (e *Exporter) Attach(l runner.LiveRun) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runID, e.totals = l.RunID, l.Totals
}

// Second implements runner.Observer.
func (e *Exporter) Second(row report.Second, publish, endToEnd *hdrhistogram.Histogram) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.row = row
	e.rows++
	for name := range e.faults {
		e.faults[name] = false
	}
	for _, f := range row.Faults {
		e.faults[f] = true
	}
	for kind, h := range map[string]*hdrhistogram.Histogram{latPublish: publish, latE2E: endToEnd} {
		if h == nil {
			continue
		}
		e.interval[kind] = report.Summarize(h)
		e.whole[kind].Merge(h)
	}
}

// Handler serves the exporter's series with the Go runtime's and the
// process's own (mqcheck's memory and CPU over a soak), from a registry of
// its own: nothing registered globally by a library leaks in.
func (e *Exporter) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
