package runner

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestWorkerToldOfFaults: a worker resolves the whole fault schedule as
// one process would (the same entries, seeds and times), runs the faults
// faults[].worker gives it, and marks the others' planned windows in its
// timeline and faults, as run elsewhere, without running them: worker 1's
// restart command would fail the run here.
func TestWorkerToldOfFaults(t *testing.T) {
	t.Parallel()
	s := memoryScenario(t, "queue", 1, memory.Faults{}, 7)
	s.Duration = scenarios.Duration(2 * time.Second)
	s.Producers.Count, s.Producers.Rate = 2, 2000
	s.Consumers.Count = 2
	s.Faults = []scenarios.Fault{
		{Kind: scenarios.FaultProducerCrash, At: sec(0.5), For: sec(1), Worker: 1, Client: 1},
		{Kind: scenarios.FaultConsumerCrash, Random: &scenarios.RandomSchedule{From: sec(0.2), To: sec(1.5), Count: 1}, Client: 0},
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{Scenario: s, Dir: t.TempDir(), DrainSettle: 300 * time.Millisecond,
		Worker: &Worker{Index: 0, Count: 2, RunID: "told-1"}})
	if err != nil {
		t.Fatalf("worker 0: %v (did it plan worker 1's producer crash here?)", err)
	}
	whole := chaos.Schedule(s.Faults, s.Seed, s.Duration.D())
	if len(res.Faults) != 2 || len(whole) != 2 {
		t.Fatalf("faults %+v, want both of the schedule %+v", res.Faults, whole)
	}
	for _, f := range res.Faults {
		o := whole[slices.IndexFunc(whole, func(o chaos.Occurrence) bool { return o.Fault.Kind == f.Kind })]
		if f.PlannedMS != o.At.Milliseconds() || !strings.HasPrefix(f.Schedule, o.Describe(s.Seed)) {
			t.Errorf("%s planned at %d ms (%s), want the single process's %s (%s)", f.Kind, f.PlannedMS, f.Schedule, o.At, o.Describe(s.Seed))
		}
		if f.Error != "" || f.Worker == nil {
			t.Errorf("%s: error %q, worker %v", f.Kind, f.Error, f.Worker)
			continue
		}
		switch f.Kind {
		case scenarios.FaultProducerCrash:
			if !f.Elsewhere || *f.Worker != 1 || f.Target != "producer-crash (on worker 1)" || f.EndMS-f.StartMS < 1000 {
				t.Errorf("producer crash %+v: want it told, on worker 1, for its planned second", f)
			}
		case scenarios.FaultConsumerCrash:
			if f.Elsewhere || *f.Worker != 0 {
				t.Errorf("consumer crash %+v: want it run here, on worker 0", f)
			}
		}
	}
	marked := 0
	for _, row := range res.Timeline {
		if slices.Contains(row.Faults, "producer-crash (on worker 1)") {
			marked++
		}
	}
	if marked == 0 {
		t.Errorf("no timeline row marks the producer crash on worker 1: %+v", res.Timeline)
	}
}
