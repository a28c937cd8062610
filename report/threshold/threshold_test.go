package threshold

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		metric string
		op     string
		limit  float64
	}{
		{"end_to_end.p99 < 50ms", "latency.end_to_end.p99", "<", 50_000},
		{"publish.p999 <= 2s", "latency.publish.p999", "<=", 2_000_000},
		{"latency.publish.max<1m30s", "latency.publish.max", "<", 90_000_000},
		{"end-to-end.p50 < 800us", "latency.end_to_end.p50", "<", 800},
		{"End_To_End.P90 < 1.5ms", "latency.end_to_end.p90", "<", 1500},
		{"lost == 0", "counts.lost", "==", 0},
		{"counts.duplicated <= 10", "counts.duplicated", "<=", 10},
		{"duplicated <= 1k", "counts.duplicated", "<=", 1000},
		{"received_per_s >= 5000", "throughput.received_per_s", ">=", 5000},
		{"sent_per_s > 4.5k/s", "throughput.sent_per_s", ">", 4500},
		{"throughput.acked_per_s >= 1.5M/s", "throughput.acked_per_s", ">=", 1.5e6},
		{"reordered != 3", "counts.reordered", "!=", 3},
		{"end_to_end.count >= 1000", "latency.end_to_end.count", ">=", 1000},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got.Metric.Name != tt.metric || got.Op != tt.op || got.Limit != tt.limit {
			t.Errorf("Parse(%q) = %s %s %v, want %s %s %v", tt.in, got.Metric.Name, got.Op, got.Limit, tt.metric, tt.op, tt.limit)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"endtoend.p99 < 50ms", `did you mean "end_to_end.p99"`},
		{"los == 0", `did you mean "lost"`},
		{"frobnication < 3", "metrics: SERIES.STAT with SERIES one of publish, publish_acked"},
		{"end_to_end.p99 < 50", "needs a unit"},
		{"end_to_end.p99 < fast", "not a duration"},
		{"end_to_end.p99 < -5ms", "negative"},
		{"lost = 0", "unknown operator"},
		{"lost =< 0", "unknown operator"},
		{"lost <== 0", "unknown operator"},
		{"lost 0", "no comparison"},
		{"< 5", "no metric"},
		{"lost <", "no value"},
		{"lost < 1 < 2", "one comparison"},
		{"lost < 1.5", "whole number"},
		{"lost < 5/s", "not a rate"},
		{"lost < 5ms", "not a latency"},
		{"received_per_s > 5ms", "not a latency"},
		{"received_per_s > inf", "not one"},
		{"received_per_s > 1e9", "not one"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) accepted it", tt.in)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want it to say %q", tt.in, err, tt.want)
		}
	}
}

func TestHolds(t *testing.T) {
	th, _ := Parse("end_to_end.p99 < 50ms")
	if !th.Holds(49_999) || th.Holds(50_000) {
		t.Error("< is not strict")
	}
	th, _ = Parse("received_per_s >= 5k")
	if !th.Holds(5000) || th.Holds(4999.9) {
		t.Error(">= misjudged")
	}
}

// TestEveryMetricParses keeps the catalogue and the grammar in step: every
// metric can be named both ways.
func TestEveryMetricParses(t *testing.T) {
	for _, m := range Metrics() {
		val := map[Kind]string{Count: "1", Duration: "1ms", Rate: "1/s"}[m.Kind]
		for _, name := range []string{m.Name, m.Short()} {
			th, err := Parse(name + " < " + val)
			if err != nil || th.Metric != m {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// FuzzParseThreshold: any input either parses into a threshold that
// survives a String/Parse round trip, or is an error with a message; never a
// panic.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"end_to_end.p99 < 50ms", "publish.p999 <= 2s", "lost == 0", "received_per_s >= 5000",
		"duplicated <= 10", "sent_per_s > 1.5k/s", "lost = 0", "x", "end_to_end.p99 < 1h2m3.5s", "<=>", "a<b<c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		back, err := Parse(th.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", s, th.String(), err)
		}
		if back != th {
			t.Fatalf("%q: round trip through %q changed it: %+v vs %+v", s, th.String(), back, th)
		}
	})
}
