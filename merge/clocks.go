package merge

import (
	"fmt"

	"github.com/mqcheck/mqcheck/report"
)

// Offset bounds worker j's clock minus worker i's from the least one-way
// times each way, as an NTP exchange does: ij is the least receipt time
// on j minus send time on i (a delay plus the offset), ji the least the
// other way (a delay minus the offset). Delays are not negative, so the
// offset lies in [-ji, ij]: the middle, and half the width.
func Offset(ij, ji int64) (offset, bound int64) {
	return (ij - ji) / 2, (ij + ji) / 2
}

// clocks bounds every worker's clock offset to worker 0's and returns the
// widest bound (-1 when any is unknown).
func clocks(ws []*worker) ([]report.ClockOffset, int64) {
	var ref *report.Worker
	for _, w := range ws {
		if w.res.Worker.Index == 0 {
			ref = w.res.Worker
		}
	}
	var out []report.ClockOffset
	widest := int64(0)
	for _, w := range ws {
		wi := w.res.Worker
		if wi.Index == 0 {
			continue
		}
		c := report.ClockOffset{Worker: wi.Index}
		if ref != nil {
			// Sent on 0, received on w; and the other way.
			ij, ok1 := at(wi.MinOneWayNS, 0)
			ji, ok2 := at(ref.MinOneWayNS, wi.Index)
			if ok1 && ok2 {
				off, b := Offset(ij, ji)
				c.Known, c.OffsetUS, c.ErrorUS = true, off/1e3, (b+999)/1e3
			}
		}
		if !c.Known {
			widest = -1
		} else if widest >= 0 {
			widest = max(widest, c.ErrorUS)
		}
		out = append(out, c)
	}
	return out, widest
}

func at(xs []*int64, i int) (int64, bool) {
	if i >= len(xs) || xs[i] == nil {
		return 0, false
	}
	return *xs[i], true
}

// clockNote says what the offsets mean for end-to-end latency.
func clockNote(widest int64) string {
	switch {
	case widest < 0:
		return "end-to-end latency across workers: some clock offsets are unknown (two workers received none of each other's messages), so its error is not bounded"
	case widest > report.ClockNoteUS:
		return fmt.Sprintf("end-to-end latency across workers is uncertain by up to %.1f ms: the workers' clocks disagree within that bound (see clocks)", float64(widest)/1e3)
	}
	return ""
}
