package report

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report/threshold"
)

// ThresholdResult is one scenario threshold decided on a run.
type ThresholdResult struct {
	Expr    string `json:"expr"`    // as written in the scenario
	Metric  string `json:"metric"`  // canonical: latency.end_to_end.p99
	Verdict string `json:"verdict"` // pass, fail, unknown (no value to judge)
	Holds   *bool  `json:"holds"`
	// Value and Limit in the metric's base unit: µs, messages/s, messages.
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit"`
	Summary string  `json:"summary"`
}

// ApplyThresholds decides each threshold on r, records the results and
// folds them into the verdict: a missed threshold fails the run; one that
// cannot be judged (no latency recorded) makes a pass unknown, since a
// verdict never passes without evidence.
func ApplyThresholds(r *Results, exprs []string) error {
	r.Thresholds = nil
	for i, e := range exprs {
		t, err := threshold.Parse(e)
		if err != nil {
			return fmt.Errorf("thresholds.%d: %w", i, err)
		}
		tr := ThresholdResult{Expr: e, Metric: t.Metric.Name, Limit: t.Limit, Verdict: checker.Unknown}
		v, ok := MetricValue(r, t.Metric.Name)
		switch {
		case t.Metric.Name == "counts.lost" && !r.Drain.Complete:
			// Missing messages are unaccounted, not lost, until a drain
			// completes: lost is 0 whatever happened to them.
			tr.Summary = fmt.Sprintf("%s: not known, the drain did not complete (%d acknowledged messages unaccounted), cannot judge",
				t.Metric.Short(), r.Counts.Unaccounted)
		case !ok:
			tr.Summary = fmt.Sprintf("%s: no value (nothing recorded), cannot judge", t.Metric.Short())
		default:
			holds := t.Holds(v)
			tr.Value, tr.Holds = v, &holds
			tr.Verdict = map[bool]string{true: checker.Pass, false: checker.Fail}[holds]
			tr.Summary = fmt.Sprintf("%s was %s, limit %s %s", t.Metric.Short(), formatMetric(t.Metric.Kind, v),
				t.Op, threshold.FormatValue(t.Metric.Kind, t.Limit))
		}
		r.Thresholds = append(r.Thresholds, tr)
		switch {
		case tr.Verdict == checker.Fail:
			r.Verdict = checker.Fail
		case tr.Verdict == checker.Unknown && r.Verdict == checker.Pass:
			r.Verdict = checker.Unknown
		}
	}
	return nil
}

// MetricValue reads a metric (canonical name, see threshold.Metrics) from
// r; false when r has no value for it (no latency recorded).
func MetricValue(r *Results, name string) (float64, bool) {
	group, rest, _ := strings.Cut(name, ".")
	switch group {
	case "counts":
		return countValue(r.Counts, rest)
	case "throughput":
		switch rest {
		case "sent_per_s":
			return r.Throughput.SentPerS, true
		case "acked_per_s":
			return r.Throughput.AckedPerS, true
		case "received_per_s":
			return r.Throughput.ReceivedPerS, true
		}
	case "latency":
		series, stat, _ := strings.Cut(rest, ".")
		l, ok := r.Latency.Get(series)
		if !ok {
			return 0, false
		}
		return latencyValue(l, stat)
	}
	return 0, false
}

func countValue(c checker.Counts, name string) (float64, bool) {
	if v, ok := uintField(reflect.ValueOf(c), name); ok {
		return v, true
	}
	if c.Processed != nil {
		// The processed layer's own counts (processed_twice, ...).
		return uintField(reflect.ValueOf(*c.Processed), name)
	}
	return 0, false
}

// uintField reads the uint64 field of struct v whose JSON name is name.
func uintField(v reflect.Value, name string) (float64, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag == name && t.Field(i).Type.Kind() == reflect.Uint64 {
			return float64(v.Field(i).Uint()), true
		}
	}
	return 0, false
}

// latencyValue reads a statistic, from the whole-run histogram when the
// results carry it (every percentile), else from the summary.
func latencyValue(l Latency, stat string) (float64, bool) {
	if stat == "count" {
		return float64(l.Count), true
	}
	if l.Count == 0 {
		return 0, false
	}
	switch stat {
	case "mean":
		return l.MeanUS, true
	case "max":
		return float64(l.MaxUS), true
	}
	if h, err := l.Histogram(); err == nil && h != nil {
		for _, s := range threshold.LatencyStats() {
			if s.Name == stat && s.Percentile > 0 {
				return float64(h.ValueAtQuantile(s.Percentile)), true
			}
		}
	}
	switch stat {
	case "p50":
		return float64(l.P50US), true
	case "p90":
		return float64(l.P90US), true
	case "p99":
		return float64(l.P99US), true
	case "p999":
		return float64(l.P999US), true
	}
	return 0, false
}

// formatMetric writes a value for people: 12.3ms, 4,996/s, 3.
func formatMetric(k threshold.Kind, v float64) string {
	switch k {
	case threshold.Duration:
		return fmtUS(int64(v + 0.5))
	case threshold.Rate:
		return fmtN(uint64(v+0.5)) + "/s"
	}
	return fmtN(uint64(v))
}
