package report

import "fmt"

// Load modes, as results.json names them.
const (
	LoadFixedRate  = "fixed-rate"
	LoadClosedLoop = "closed-loop"
	LoadStages     = "stages"
	LoadFindMax    = "find-max"
	// LoadConsumeOnly: no producers; the consumers read a backlog another
	// run published (consumers.backlog).
	LoadConsumeOnly = "consume-only"
)

// LoadResult is what the load intended and what it did: target against achieved
// rate, every intended send accounted for, the load's true length.
type LoadResult struct {
	// Mode: fixed-rate, closed-loop (as fast as the in-flight window
	// allows), stages or find-max.
	Mode string `json:"mode"`
	// PlannedMS is the length the scenario asked for; EndedMS when the
	// load ended (sooner for find-max once it found its answer or an
	// interrupted run); DurationMS its true length, until the last
	// producer stopped publishing (a producer blocked in a broker call
	// can stretch it).
	PlannedMS  int64 `json:"planned_ms"`
	EndedMS    int64 `json:"ended_ms"`
	DurationMS int64 `json:"duration_ms"`
	// TargetPerS is the mean rate the load intended until it ended (0 in
	// closed loop: no target); AchievedPerS the sends made per second over
	// the same time.
	TargetPerS   float64 `json:"target_per_s"`
	AchievedPerS float64 `json:"achieved_per_s"`
	// Intended sends were due before the load ended; of them NotSent were
	// never made (counts.not_sent; their latency so far is in
	// latency.publish_not_sent and latency.publish).
	Intended uint64 `json:"intended"`
	NotSent  uint64 `json:"not_sent"`
	// MaxInFlight is each producer's window of unconfirmed publishes;
	// WindowBound says the window, not the broker, set the pace: in flight
	// stayed pinned at it while the rate fell short of the target (or in
	// closed loop).
	MaxInFlight int  `json:"max_in_flight"`
	WindowBound bool `json:"window_bound"`
	// Notices say what a reader must know about the load: the target rate
	// not reached, a window-bound run.
	Notices []string `json:"notices,omitempty"`
	// FindMax is the search's outcome, in mode find-max.
	FindMax *FindMax `json:"find_max,omitempty"`
}

// FindMax is the outcome of a find-max load: the highest rate the broker
// sustained within the bound, and every step's figures.
type FindMax struct {
	// Bound is the latency bound as written ("publish.p99 < 50ms").
	Bound string `json:"bound"`
	// HighestPerS is the target rate of the last step that held the bound
	// and reached its rate (0: not even the first).
	HighestPerS float64 `json:"highest_sustained_per_s"`
	// Reason says why the search stopped.
	Reason string        `json:"reason"`
	Steps  []FindMaxStep `json:"steps"`
}

// FindMaxStep is one step of a find-max load.
type FindMaxStep struct {
	StartMS      int64   `json:"start_ms"`
	EndMS        int64   `json:"end_ms"`
	TargetPerS   float64 `json:"target_per_s"`
	AchievedPerS float64 `json:"achieved_per_s"`
	// Value is the bound's metric over the step (µs), Holds whether it met
	// the bound and reached 95% of its target rate.
	Value int64 `json:"value_us"`
	Holds bool  `json:"holds"`
}

// RateShortfall is the share of the target rate below which a run gets a
// notice that it did not reach it.
const RateShortfall = 0.95

// loadLine says in one line how the load went against its target.
func loadLine(l LoadResult) string {
	if l.Mode == "" || l.Mode == LoadConsumeOnly {
		return ""
	}
	if l.TargetPerS <= 0 {
		return fmt.Sprintf("load %s: %s/s achieved, no target rate; window %s in flight per producer",
			l.Mode, fmtN(uint64(l.AchievedPerS+0.5)), fmtN(uint64(l.MaxInFlight)))
	}
	line := fmt.Sprintf("load %s: target %s/s, achieved %s/s (%.1f%%): %s of %s intended sends made",
		l.Mode, fmtN(uint64(l.TargetPerS+0.5)), fmtN(uint64(l.AchievedPerS+0.5)), 100*l.AchievedPerS/l.TargetPerS,
		fmtN(l.Intended-min(l.NotSent, l.Intended)), fmtN(l.Intended))
	if l.NotSent > 0 {
		line += fmt.Sprintf(", %s never sent", fmtN(l.NotSent))
	}
	return line
}
