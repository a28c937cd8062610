package runner

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/report"
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

// TestTimelineStallKeepsLabels: a stall of the timeline's goroutine (a
// busy machine) makes the row it delays cover more than its second, and
// the rows after it keep their seconds: labels go 1, 2, 3, ... without a
// gap or a shift. With a ticker, a stall of over half a second labelled
// the late row by the next second and shifted every later label by one.
func TestTimelineStallKeepsLabels(t *testing.T) {
	s := memoryScenario(t, "partitioned", 1, memory.Faults{}, 1)
	s.Duration = scenarios.Duration(4 * time.Second)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{Scenario: s, Dir: dir, DrainSettle: 300 * time.Millisecond,
		beforeRow: func(row int64) {
			if row == 2 {
				time.Sleep(700 * time.Millisecond)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Timeline) < 4 {
		t.Fatalf("%d timeline rows for a 4 s load", len(res.Timeline))
	}
	for i, row := range res.Timeline {
		if row.T != int64(i+1) {
			t.Fatalf("row %d is labelled %d, want %d: %v", i, row.T, i+1, labels(res.Timeline))
		}
	}
}

func labels(rows []report.Second) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, r.T)
	}
	return out
}
