package runner

import (
	"fmt"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/swarm"
)

// Attribution of anomalies and unavailability to faults.
//
// A fault's span is its window (start to heal), its recovery (until both
// publishing and delivery moved again) and a settling second after it, in
// which what the fault set off still completes (sends given up at the
// heal, records read again after a rebalance); to the end of the run when
// a side never recovered. Unavailability comes from the chaos meter, which
// samples live progress every 20ms. The anomalies are approximate at the
// edges:
//   - duplicated, reordered: the checker's counts read at the span's start
//     and end; consumers hand receipts to the checker within 250ms, so a
//     duplicate close to an edge can fall on the other side;
//   - indeterminate: the producers' live counts at the start and end;
//   - lost: acked messages never received, by when the broker acked them
//     (in checker.LostBucket buckets; ack times interpolated from every 1024th
//     message's and each producer's first and last): a message acked
//     within a fault's span is that fault's; one acked outside every
//     span was destroyed by the first fault that started after its ack
//     (a backlog lost in a kill was acked long before the kill, and sent
//     even earlier); only after a complete drain;
//   - throughput recovery: the end of the first timeline row (1 s) after
//     the heal whose acked rate is back to recoverShare of the baseline,
//     the mean acked rate of up to baselineSeconds rows before the start
//     (skipping the first second, a warm-up, and rows another fault's span
//     touches), at most the scenario's fixed rate; the fixed rate itself
//     when another fault's span covers every such second.
//
// Overlapping faults may count the same anomaly, each in its own span.
const (
	recoverShare    = 0.9
	baselineSeconds = 5
)

// faultResults turns the windows into the report's faults with their
// attribution. timeline rows are seconds since loadStart (row t covers
// (t-1 s, t s]); lost[i] counts lost messages acked in the i-th checker.LostBucket.
//
// rate is the scenario's fixed rate (0: closed loop): a baseline never
// exceeds it, so the catch-up burst after an earlier fault does not set the
// bar.
func faultResults(windows []chaos.Window, loadStart time.Time, timeline []report.Second, lost []uint64, load time.Duration, rate float64) []report.Fault {
	ms := func(t time.Time) int64 { return t.Sub(loadStart).Milliseconds() }
	lastMS := int64(0)
	if n := len(timeline); n > 0 {
		lastMS = timeline[n-1].T * 1000
	}
	type span struct{ from, to int64 }
	spans := make([]span, len(windows))
	for i, w := range windows {
		to := lastMS
		if !w.SpanEnd.IsZero() {
			to = ms(w.SpanEnd)
		}
		spans[i] = span{ms(w.Start), max(to, ms(w.Start))}
	}
	lostBy := checker.BlameLost(spanTimes(spans, func(s span) (int64, int64) { return s.from, s.to }), lost, checker.LostBucket.Milliseconds())
	out := make([]report.Fault, 0, len(windows))
	for i, w := range windows {
		f := report.Fault{Kind: w.Fault.Kind(), Target: w.Fault.Name(), Schedule: w.Schedule,
			PlannedMS: w.At.Milliseconds(), StartMS: spans[i].from, PublishRecoveryMS: -1, DeliverRecoveryMS: -1,
			NoPublishMS: w.NoPublish.Milliseconds(), NoDeliveryMS: w.NoDelivery.Milliseconds(),
			ThroughputRecoveryMS: -1, AttributedUntilMS: spans[i].to, Detail: w.Detail}
		if !w.Healed.IsZero() {
			f.EndMS = ms(w.Healed)
			if !w.PublishRecovered.IsZero() {
				f.PublishRecoveryMS = w.PublishRecovered.Sub(w.Healed).Milliseconds()
			}
			if !w.DeliverRecovered.IsZero() {
				f.DeliverRecoveryMS = w.DeliverRecovered.Sub(w.Healed).Milliseconds()
			}
		}
		if w.Err != nil {
			f.Error = w.Err.Error()
		}
		from := spans[i].from
		if w.AtEnd != (chaos.Counts{}) || w.AtStart != (chaos.Counts{}) {
			f.Anomalies.Duplicated = w.AtEnd.Duplicated - min(w.AtStart.Duplicated, w.AtEnd.Duplicated)
			f.Anomalies.Reordered = w.AtEnd.Reordered - min(w.AtStart.Reordered, w.AtEnd.Reordered)
			f.Anomalies.Indeterminate = w.AtEnd.Indeterminate - min(w.AtStart.Indeterminate, w.AtEnd.Indeterminate)
		}
		f.Anomalies.Lost = lostBy[i]
		// The baseline: rows before the start that no fault's span touches.
		var sum float64
		var rows int
		for _, row := range timeline {
			lo, hi := (row.T-1)*1000, row.T*1000
			if row.T < 2 || hi > from || hi <= from-baselineSeconds*1000 {
				continue
			}
			touched := false
			for _, s := range spans {
				if lo < s.to && hi > s.from {
					touched = true
				}
			}
			if !touched {
				sum += row.AckedPerS
				rows++
			}
		}
		switch {
		case rows > 0 && rate > 0:
			f.BaselinePerS = min(sum/float64(rows), rate)
		case rows > 0:
			f.BaselinePerS = sum / float64(rows)
		case f.StartMS >= 2000:
			// Every second before it was another fault's: at a fixed rate
			// that rate is what throughput comes back to.
			f.BaselinePerS = rate
		}
		if f.BaselinePerS > 0 && !w.Healed.IsZero() {
			for _, row := range timeline {
				if row.T*1000 <= f.EndMS || row.T*1000 > load.Milliseconds()+1000 {
					continue
				}
				if row.AckedPerS >= recoverShare*f.BaselinePerS {
					f.ThroughputRecoveryMS = row.T*1000 - f.EndMS
					break
				}
			}
		}
		out = append(out, f)
	}
	return out
}

func spanTimes[S any](spans []S, f func(S) (int64, int64)) [][2]int64 {
	out := make([][2]int64, len(spans))
	for i, s := range spans {
		out[i][0], out[i][1] = f(s)
	}
	return out
}

// attribute names, on each piece of evidence, the fault whose window (from
// its start to its recovery) contains the example's time; for a message
// acked and never received, the fault blamed for it as in faultResults.
// Evidence is dated on the swarm's clock, and so are the windows here
// (swarm.ClockNS), whatever the wall clock did during the run.
func attribute(res *report.Results, windows []chaos.Window, loadStartNS int64) {
	now := time.Now()
	spans := spanTimes(windows, func(w chaos.Window) (int64, int64) {
		end := w.SpanEnd
		if end.IsZero() {
			end = now
		}
		return swarm.ClockNS(w.Start), swarm.ClockNS(end)
	})
	res.NameFaults(spans, func(i int) string {
		w := windows[i]
		return fmt.Sprintf("%s at %s", w.Fault.Name(), time.Duration(swarm.ClockNS(w.Start)-loadStartNS).Round(time.Millisecond))
	})
}

// faultChanged puts every fault's start and end in the run's notices.
func (r *run) faultChanged(w chaos.Window, healed bool) {
	n := broker.Notice{Kind: "fault-start", Detail: w.Fault.Name() + " (" + w.Schedule + ")", At: w.Start}
	if healed {
		n = broker.Notice{Kind: "fault-end", Detail: w.Fault.Name(), At: w.Healed}
		if w.Err != nil {
			n.Detail += ": " + w.Err.Error()
		}
	}
	r.notify(n)
}
