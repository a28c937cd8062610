package threshold

import (
	"fmt"
	"github.com/mqcheck/mqcheck/internal/suggest"
	"reflect"
	"sort"
	"strings"

	"github.com/mqcheck/mqcheck/checker"
)

// Kind is what a metric measures, which decides the units its limit takes.
type Kind int

// Metric kinds.
const (
	Count    Kind = iota // a number of messages: "10", "1k"
	Duration             // a latency in microseconds, written with a unit: "50ms"
	Rate                 // messages per second: "5000", "5k/s"
)

func (k Kind) String() string {
	switch k {
	case Duration:
		return "duration"
	case Rate:
		return "rate"
	}
	return "count"
}

// Metric is one value of results.json a threshold can test.
type Metric struct {
	// Name is the canonical dotted path: counts.lost,
	// latency.end_to_end.p99, throughput.received_per_s.
	Name string
	Kind Kind
}

// Short is the name without its group (lost, end_to_end.p99,
// received_per_s): what people write and what messages show.
func (m Metric) Short() string {
	_, rest, _ := strings.Cut(m.Name, ".")
	return rest
}

// LatencySeries are the latency histograms of a run, as named in
// results.json: publish (every intended send, the headline), one per
// outcome, send → ack, and end-to-end.
func LatencySeries() []string {
	return []string{"publish", "publish_acked", "publish_failed", "publish_indeterminate", "publish_not_sent",
		"publish_aborted", "send_to_ack", "end_to_end"}
}

// Stat is one statistic of a latency series, with the percentile it stands
// for (p999 is 99.9, p9999 is 99.99); mean, max and count are not
// percentiles (-1).
type Stat struct {
	Name       string
	Percentile float64
}

// LatencyStats are the statistics of one latency series.
func LatencyStats() []Stat {
	return []Stat{
		{"p50", 50}, {"p75", 75}, {"p90", 90}, {"p95", 95}, {"p99", 99}, {"p999", 99.9}, {"p9999", 99.99},
		{"max", -1}, {"mean", -1}, {"count", -1},
	}
}

// ThroughputFields are the rates of results.json's throughput section.
func ThroughputFields() []string { return []string{"sent_per_s", "acked_per_s", "received_per_s"} }

// catalogue is every metric, built once; never changed after.
var catalogue = buildCatalogue()

// CountFields lists the counts by their results.json names, read from
// checker.Counts so a count added there is a metric at once.
func CountFields() []string {
	t := reflect.TypeFor[checker.Counts]()
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		// Plain counts only: the processed layer is a section of its own.
		if name != "" && name != "-" && t.Field(i).Type.Kind() == reflect.Uint64 {
			out = append(out, name)
		}
	}
	return out
}

func buildCatalogue() []Metric {
	var ms []Metric
	for _, c := range CountFields() {
		ms = append(ms, Metric{Name: "counts." + c, Kind: Count})
	}
	for _, s := range LatencySeries() {
		for _, st := range LatencyStats() {
			k := Duration
			if st.Name == "count" {
				k = Count
			}
			ms = append(ms, Metric{Name: "latency." + s + "." + st.Name, Kind: k})
		}
	}
	for _, f := range ThroughputFields() {
		ms = append(ms, Metric{Name: "throughput." + f, Kind: Rate})
	}
	return ms
}

// Metrics lists every metric a threshold can name.
func Metrics() []Metric { return append([]Metric(nil), catalogue...) }

// Lookup finds a metric by its canonical or short name; "-" is read as "_"
// (end-to-end.p99) and case is ignored.
func Lookup(name string) (Metric, error) {
	n := Normalize(name)
	for _, m := range catalogue {
		if n == m.Name || n == m.Short() {
			return m, nil
		}
	}
	return Metric{}, fmt.Errorf("unknown metric %q%s", name, suggestion(n))
}

// Normalize spells a metric name as the catalogue does: trimmed, lower
// case, "-" read as "_" (End-To-End.p99 is end_to_end.p99).
func Normalize(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
}

// suggestion names the metric closest to n, or lists the families when none
// is close enough to be a typo.
func suggestion(n string) string {
	best, bestD := "", -1
	for _, m := range catalogue {
		for _, cand := range []string{m.Short(), m.Name} {
			if d := suggest.Distance(n, cand); bestD < 0 || d < bestD {
				best, bestD = m.Short(), d
			}
		}
	}
	if bestD >= 0 && bestD <= suggest.Limit(n) {
		return fmt.Sprintf(", did you mean %q? (%s)", best, families())
	}
	return " (" + families() + ")"
}

// families is a compact list of every metric name.
func families() string {
	stats := make([]string, len(LatencyStats()))
	for i, s := range LatencyStats() {
		stats[i] = s.Name
	}
	counts := CountFields()
	sort.Strings(counts)
	return fmt.Sprintf("metrics: SERIES.STAT with SERIES one of %s and STAT one of %s; %s; %s",
		strings.Join(LatencySeries(), ", "), strings.Join(stats, ", "), strings.Join(ThroughputFields(), ", "), strings.Join(counts, ", "))
}
