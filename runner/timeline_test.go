package runner

import (
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestTimelineCountsEachKind injects duplicates and reorders and checks
// the timeline counts each kind in the second it happened, adding up to
// the running total, so the report can plot every kind apart.
func TestTimelineCountsEachKind(t *testing.T) {
	s := memoryScenario(t, "partitioned", 1, memory.Faults{Duplicate: 5, Reorder: 3}, 3)
	// The faults fall among the first 500 publishes (0.1s at 5000/s); two
	// seconds of load put them well inside the first timeline rows.
	s.Duration = scenarios.Duration(2 * time.Second)
	res := runScenario(t, s)
	if res.Counts.Duplicated != 5 || res.Counts.Reordered != 3 {
		t.Fatalf("the memory broker injected %d duplicates and %d reorders, want 5 and 3", res.Counts.Duplicated, res.Counts.Reordered)
	}
	var dup, reord, sum uint64
	for _, row := range res.Timeline {
		dup += row.Duplicated
		reord += row.Reordered
		sum += row.Duplicated + row.Reordered + row.Corrupted + row.Unexpected
		if sum != row.Anomalies {
			t.Errorf("second %d: the kinds add up to %d, the running total is %d", row.T, sum, row.Anomalies)
		}
	}
	if dup != 5 || reord != 3 {
		t.Errorf("the timeline counts %d duplicates and %d reorders, want 5 and 3\n%+v", dup, reord, res.Timeline)
	}
}
