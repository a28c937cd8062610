package report

import (
	"fmt"
	"strings"
)

// ClockNoteUS is the clock offset bound past which a merged run's
// end-to-end latency is marked uncertain: a message received on another
// worker than its sender's is timed on two clocks.
const ClockNoteUS = 1000

// clockBound says, for a merged run, how far end-to-end latency across
// workers may be off: the widest offset bound ("±440µs", "±?" when an
// offset is unknown), and whether that is past ClockNoteUS or unbounded.
// ok is false for one process's run, timed on one clock.
func clockBound(r *Results) (bound string, uncertain, ok bool) {
	m := r.Merged
	if m == nil || len(m.Clocks) == 0 {
		return "", false, false
	}
	if m.EndToEndErrorUS < 0 {
		return "±?", true, true
	}
	return "±" + fmtBound(m.EndToEndErrorUS), m.EndToEndErrorUS > ClockNoteUS, true
}

// fmtBound is fmtUS that says 0 rather than "-".
func fmtBound(us int64) string {
	if us == 0 {
		return "0µs"
	}
	return fmtUS(us)
}

// latencyLabel is a latency row's label: end-to-end of a merged run
// carries its clock bound, and a mark when that is past ClockNoteUS.
func latencyLabel(r *Results, s LatencySeries) string {
	if s.Name != "end_to_end" {
		return s.Label
	}
	bound, uncertain, ok := clockBound(r)
	switch {
	case !ok:
		return s.Label
	case uncertain:
		return s.Label + " " + bound + " (uncertain)"
	}
	return s.Label + " " + bound
}

// clockLine says what the clock bound of a merged run's end-to-end
// latency comes from: each worker's offset to worker 0's. "" for one
// process's run.
func clockLine(r *Results) string {
	bound, uncertain, ok := clockBound(r)
	if !ok {
		return ""
	}
	var parts []string
	for _, c := range r.Merged.Clocks {
		if c.Known {
			parts = append(parts, fmt.Sprintf("worker %d %+dµs ± %s", c.Worker, c.OffsetUS, fmtBound(c.ErrorUS)))
		} else {
			parts = append(parts, fmt.Sprintf("worker %d unknown (it and worker 0 received none of each other's messages)", c.Worker))
		}
	}
	line := fmt.Sprintf("end-to-end %s: a message received on another worker than its sender's is timed on two clocks; their offsets to worker 0's: %s",
		bound, strings.Join(parts, ", "))
	switch {
	case r.Merged.EndToEndErrorUS < 0:
		line += "; uncertain: the error is not bounded"
	case uncertain:
		line += fmt.Sprintf("; uncertain: past %s", fmtUS(ClockNoteUS))
	}
	return line
}
