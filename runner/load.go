package runner

import (
	"fmt"
	"time"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// pacerOf is the schedule of the scenario's load: its stages, find-max's
// steps (each held for step_for, the search ends the load early), the
// fixed rate for the duration, or nil for closed loop.
func pacerOf(s *scenarios.Scenario) (swarm.Pacer, error) {
	var stages []swarm.Stage
	switch s.Load.Mode {
	case scenarios.LoadStages:
		for _, st := range s.Load.Stages {
			stages = append(stages, swarm.Stage{Rate: float64(st.Rate), For: st.For.D(), Ramp: st.Ramp.D()})
		}
	case scenarios.LoadFindMax:
		for _, r := range s.Load.FindMaxSteps() {
			stages = append(stages, swarm.Stage{Rate: float64(r), For: s.Load.StepFor.D()})
		}
		if len(stages) == 0 {
			return nil, fmt.Errorf("load: find-max needs start, step and max (start <= max)")
		}
	case "":
		if s.Producers.Rate > 0 {
			return swarm.Constant(float64(s.Producers.Rate), s.Duration.D()), nil
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("load.mode: unknown mode %q", s.Load.Mode)
	}
	p, err := swarm.Stages(stages)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return p, nil
}

// loadResult is what the load intended and did: every intended send made
// or counted not sent, target against achieved rate over the time the
// load lasted, and the notices a reader needs.
func loadResult(s *scenarios.Scenario, producers int, sw *swarm.Swarm, pacer swarm.Pacer, t swarm.Totals, rows []report.Second) report.LoadResult {
	start, stopped := sw.LoadSpan()
	ended := min(sw.LoadEnd(), stopped)
	l := report.LoadResult{Mode: report.LoadClosedLoop, PlannedMS: s.Duration.D().Milliseconds(),
		EndedMS: time.Duration(ended - start).Milliseconds(), DurationMS: time.Duration(stopped - start).Milliseconds(),
		NotSent: t.NotSent, MaxInFlight: s.Producers.MaxInFlight}
	switch {
	case s.Load.Mode == scenarios.LoadStages:
		l.Mode = report.LoadStages
	case s.Load.Mode == scenarios.LoadFindMax:
		l.Mode = report.LoadFindMax
	case pacer != nil:
		l.Mode = report.LoadFixedRate
	}
	secs := time.Duration(ended - start).Seconds()
	if secs <= 0 {
		return l
	}
	if pacer != nil {
		l.Intended = pacer.Hits(time.Duration(ended - start))
		l.TargetPerS = float64(l.Intended) / secs
	}
	l.AchievedPerS = float64(t.Sent) / secs
	window := uint64(s.Producers.MaxInFlight * producers)
	short := l.TargetPerS > 0 && l.AchievedPerS < report.RateShortfall*l.TargetPerS
	pinned, of := pinnedSeconds(rows, window, l.EndedMS)
	l.WindowBound = pinned*2 > of && (pacer == nil || short)
	switch {
	case l.WindowBound && pacer == nil:
		l.Notices = append(l.Notices, fmt.Sprintf("window-bound: in flight stayed at the window (%d per producer) in %d of %d seconds: "+
			"a closed-loop rate is the window over the broker's latency; raise producers.max_in_flight to see whether the broker goes faster",
			s.Producers.MaxInFlight, pinned, of))
	case l.WindowBound:
		l.Notices = append(l.Notices, fmt.Sprintf("window-bound: in flight stayed at the window (%d per producer) in %d of %d seconds "+
			"while the rate fell short: either the broker could not keep up or the window is too small for its latency; "+
			"raise producers.max_in_flight to tell", s.Producers.MaxInFlight, pinned, of))
	}
	if short && l.Mode != report.LoadFindMax {
		l.Notices = append(l.Notices, fmt.Sprintf("target rate not reached: achieved %.0f/s of %.0f/s (%.1f%%); %d of %d intended sends never made, "+
			"the late ones count their latency from when they were due", l.AchievedPerS, l.TargetPerS,
			100*l.AchievedPerS/l.TargetPerS, l.NotSent, l.Intended))
	}
	return l
}

// pinnedSeconds counts the timeline seconds of the load whose in flight
// stood at 90% of the window or more, and the seconds looked at: the first
// is left out (the window fills), and so is the one the load ended in (it
// may be taken as what was in flight drains).
func pinnedSeconds(rows []report.Second, window uint64, endedMS int64) (pinned, of int) {
	for _, row := range rows {
		if row.T < 2 || row.T*1000 >= endedMS {
			continue
		}
		of++
		if window > 0 && float64(row.InFlight) >= 0.9*float64(window) {
			pinned++
		}
	}
	return pinned, of
}
