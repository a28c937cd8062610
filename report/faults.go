package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/checker"
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

// NameFaults names, on each example and piece of evidence, the fault whose
// span holds its time: spans are [from, to] in unix nanoseconds, name(i)
// span i's fault. A message acked and never received is named after the
// fault blamed for its ack time (checker.Blame), as its loss is. A run and
// a merge of a split run's workers name them alike.
func (r *Results) NameFaults(spans [][2]int64, name func(i int) string) {
	label := func(x checker.Example) string {
		var hit []int
		if x.AckedAt != 0 {
			hit = checker.Blame(spans, x.AckedAt, x.AckedAt)
		} else {
			for i, s := range spans {
				if x.At >= s[0] && x.At <= s[1] {
					hit = []int{i}
					break
				}
			}
		}
		if len(hit) == 0 {
			return ""
		}
		return name(hit[0])
	}
	for k := range r.Examples {
		for i := range r.Examples[k] {
			r.Examples[k][i].Fault = label(r.Examples[k][i])
		}
	}
	for c := range r.Claims {
		for i := range r.Claims[c].Evidence {
			r.Claims[c].Evidence[i].Fault = label(r.Claims[c].Evidence[i])
		}
	}
}
