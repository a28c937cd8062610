package metrics

import (
	"math"
	"sort"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqcheck/mqcheck/report"
)

// Latency kinds, as the "type" label spells them.
const (
	latPublish = "publish"
	latE2E     = "end_to_end"
)

// latencyBuckets (seconds) span a local broker's sub-millisecond confirms to
// a minute-long outage seen from the intended send time.
var latencyBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("mqcheck_"+name, help, labels, nil)
}

// The series, documented in README.md ("Prometheus metrics").
var (
	descInfo  = desc("run_info", "The run being measured (value 1).", "run_id", "scenario", "broker")
	descLoad  = desc("run_load_seconds", "Planned length of the load phase.")
	descT     = desc("run_elapsed_seconds", "Seconds since the load started (past the load phase: the drain).")
	descDrain = desc("run_draining", "1 while the run drains after the load phase, else 0.")

	descMessages  = desc("messages_total", "Messages by outcome: sent, acked, failed (refused by the broker), indeterminate, aborted (in a transaction that aborted), received (every delivery).", "outcome")
	descInFlight  = desc("in_flight_messages", "Published and not yet acked or failed.")
	descAnomalies = desc("anomalies_total", "Anomalies found so far by kind (lost is known only after the drain: see results.json).", "kind")

	descRate = desc("rate_messages_per_second", "Messages per second over the last second, by outcome: sent, acked, received.", "outcome")
	descLag  = desc("consumer_lag_messages", "Messages the broker still holds for the consumers (-1: the broker cannot tell).")

	descQuantile = desc("latency_last_second_seconds", "Latency percentiles of the last second, by type (publish: to the broker's confirm; end_to_end: to delivery), from the intended send time.", "type", "quantile")
	descHist     = desc("latency_seconds", "Latency since the load started, by type (publish, end_to_end), from the intended send time.", "type")

	descFault  = desc("fault_active", "1 while the fault is applied, 0 once healed.", "fault")
	descFaults = desc("faults_active", "Number of faults applied now.")
)

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descLoad, descT, descDrain, descMessages, descInFlight,
		descAnomalies, descRate, descLag, descQuantile, descHist, descFault, descFaults} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	runID, totals, row, rows := e.runID, e.totals, e.row, e.rows
	faults := make(map[string]bool, len(e.faults))
	for k, v := range e.faults {
		faults[k] = v
	}
	interval := make(map[string]report.Latency, len(e.interval))
	for k, v := range e.interval {
		interval[k] = v
	}
	var hists []prometheus.Metric
	for _, kind := range []string{latPublish, latE2E} {
		if m := histogram(kind, e.whole[kind]); m != nil {
			hists = append(hists, m)
		}
	}
	e.mu.Unlock()

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descInfo, 1, runID, e.run.Scenario, e.run.Broker)
	gauge(descLoad, e.run.Load.Seconds())

	// Until the load starts there is nothing measured: leaving the series
	// out tells a dashboard "no data" rather than a misleading zero.
	if totals == nil {
		return
	}
	t := totals()
	counter(descMessages, t.Sent, "sent")
	counter(descMessages, t.Acked, "acked")
	counter(descMessages, t.Failed, "failed")
	counter(descMessages, t.Indeterminate, "indeterminate")
	counter(descMessages, t.Aborted, "aborted")
	counter(descMessages, t.Received, "received")
	gauge(descInFlight, float64(t.InFlight))
	counter(descAnomalies, t.Live.Duplicated, "duplicated")
	counter(descAnomalies, t.Live.Reordered, "reordered")
	counter(descAnomalies, t.Live.Corrupted, "corrupted")
	counter(descAnomalies, t.Live.Unexpected, "unexpected")
	counter(descAnomalies, t.Live.Foreign, "foreign")

	for _, m := range hists {
		ch <- m
	}
	if rows == 0 {
		return
	}
	gauge(descT, float64(row.T))
	draining := 0.0
	if float64(row.T) > e.run.Load.Seconds() {
		draining = 1
	}
	gauge(descDrain, draining)
	gauge(descRate, row.SentPerS, "sent")
	gauge(descRate, row.AckedPerS, "acked")
	gauge(descRate, row.ReceivedPerS, "received")
	gauge(descLag, float64(row.Lag))
	for kind, l := range interval {
		if l.Count == 0 {
			continue
		}
		for _, q := range []struct {
			label string
			us    int64
		}{{"0.5", l.P50US}, {"0.9", l.P90US}, {"0.99", l.P99US}, {"0.999", l.P999US}, {"1", l.MaxUS}} {
			gauge(descQuantile, float64(q.us)/1e6, kind, q.label)
		}
	}
	active := 0
	for name, on := range faults {
		v := 0.0
		if on {
			v, active = 1, active+1
		}
		gauge(descFault, v, name)
	}
	gauge(descFaults, float64(active))
}

// histogram turns an HdrHistogram (microseconds) into a Prometheus
// histogram with fixed buckets, so that histogram_quantile over a rate
// window works in Grafana. Counts at a bucket edge are exact to the
// HdrHistogram's 3 significant digits.
func histogram(kind string, h *hdrhistogram.Histogram) prometheus.Metric {
	if h.TotalCount() == 0 {
		return nil
	}
	buckets := make(map[float64]uint64, len(latencyBuckets))
	bars := h.Distribution()
	sort.Slice(bars, func(i, j int) bool { return bars[i].To < bars[j].To })
	var cum uint64
	i := 0
	for _, b := range latencyBuckets {
		limit := int64(math.Round(b * 1e6))
		for ; i < len(bars) && bars[i].To <= limit; i++ {
			cum += uint64(bars[i].Count)
		}
		buckets[b] = cum
	}
	count := uint64(h.TotalCount())
	sum := h.Mean() * float64(count) / 1e6
	return prometheus.MustNewConstHistogram(descHist, count, sum, buckets, kind)
}
