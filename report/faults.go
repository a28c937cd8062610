package report

import (
	"fmt"
	"strings"
	"time"
)

// What the renderers say about a fault, in one place so every format says
// the same. Results written before faults were attributed (no Schedule)
// get none of it.

func attributed(f Fault) bool { return f.Schedule != "" }

// faultName: what the fault did, and in a split run on which worker. A
// worker's record of another worker's fault says its window is the
// schedule's.
func faultName(f Fault) string {
	switch {
	case f.Elsewhere && f.Worker != nil:
		return fmt.Sprintf("%s (on worker %d; not run here: its planned window)", f.Kind, *f.Worker)
	case f.Worker != nil:
		return fmt.Sprintf("%s (on worker %d)", f.Target, *f.Worker)
	}
	return f.Target
}

// faultSchedule: the entry and, unless it is a plain "at", the time the
// schedule resolved to, to the millisecond.
func faultSchedule(f Fault) string {
	if !attributed(f) {
		return ""
	}
	if strings.HasSuffix(f.Schedule, ": at "+(time.Duration(f.PlannedMS)*time.Millisecond).String()) {
		return f.Schedule
	}
	return fmt.Sprintf("%s, planned at %s", f.Schedule, time.Duration(f.PlannedMS)*time.Millisecond)
}

// faultUnavailability: the longest stretches without service.
func faultUnavailability(f Fault) string {
	if !attributed(f) {
		return ""
	}
	return fmt.Sprintf("no publish for %s, no delivery for %s", fmtMS(f.NoPublishMS), fmtMS(f.NoDeliveryMS))
}

// faultThroughput: when throughput came back.
func faultThroughput(f Fault) string {
	switch {
	case !attributed(f):
		return ""
	case f.BaselinePerS <= 0:
		return "no baseline before it"
	case f.ThroughputRecoveryMS < 0:
		return fmt.Sprintf("not back to 90%% of %s/s within the load", fmtN(uint64(f.BaselinePerS+0.5)))
	}
	return fmt.Sprintf("back to 90%% of %s/s %s after", fmtN(uint64(f.BaselinePerS+0.5)), fmtMS(f.ThroughputRecoveryMS))
}

// faultAnomalies: what happened in its window and recovery.
func faultAnomalies(f Fault) string {
	if !attributed(f) {
		return ""
	}
	a := f.Anomalies
	return fmt.Sprintf("lost %s, duplicated %s, reordered %s, indeterminate %s", fmtN(a.Lost), fmtN(a.Duplicated),
		fmtN(a.Reordered), fmtN(a.Indeterminate))
}
