package runner

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/report"
)

type namedFault string

func (n namedFault) Name() string               { return string(n) }
func (n namedFault) Kind() string               { return string(n) }
func (namedFault) Inject(context.Context) error { return nil }
func (namedFault) Heal(context.Context) error   { return nil }

// TestFaultResults: the per-fault figures come from the windows, the
// timeline and the lost buckets as documented in attribution.go.
func TestFaultResults(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// 2000/s, nothing from 5 s to 7 s, a burst, then 2000/s again.
	rates := []float64{1500, 2000, 2000, 2000, 2000, 900, 0, 1700, 4000, 2000}
	var timeline []report.Second
	for i, r := range rates {
		timeline = append(timeline, report.Second{T: int64(i + 1), AckedPerS: r})
	}
	windows := []chaos.Window{
		{Planned: chaos.Planned{At: 4500 * time.Millisecond, Fault: namedFault("blackhole"), Schedule: "faults.0: at 4.5s"},
			Start: at(4500), Healed: at(6500), PublishRecovered: at(6560), DeliverRecovered: at(6600), SpanEnd: at(7600),
			NoPublish: 2060 * time.Millisecond, NoDelivery: 2100 * time.Millisecond,
			AtStart: chaos.Counts{Duplicated: 5, Indeterminate: 1}, AtEnd: chaos.Counts{Duplicated: 9, Reordered: 2, Indeterminate: 40}},
		// Never recovered: its span runs to the end of the timeline.
		{Planned: chaos.Planned{At: 9 * time.Second, Fault: namedFault("pause")}, Start: at(9000), Healed: at(9500)},
	}
	lost := make([]uint64, 110) // 100ms buckets
	lost[44] = 3                // 4.4-4.5 s: before the blackhole
	lost[45] = 7                // 4.5-4.6 s: inside
	lost[75] = 2                // 7.5-7.6 s: inside (its settling second)
	lost[76] = 100              // after its span
	fs := faultResults(windows, t0, timeline, lost, 10*time.Second, 0)
	f := fs[0]
	if f.NoPublishMS != 2060 || f.NoDeliveryMS != 2100 || f.PublishRecoveryMS != 60 || f.DeliverRecoveryMS != 100 {
		t.Errorf("unavailability and recovery: %+v", f)
	}
	// Baseline: seconds 2..4 (the first is a warm-up; second 5 ends after
	// the start), 2000/s. Back to 90% of it (1800/s) first in second 9
	// (1700 in second 8 is not enough): 9 s - 6.5 s.
	if f.BaselinePerS != 2000 || f.ThroughputRecoveryMS != 2500 {
		t.Errorf("baseline %.0f/s, throughput back after %d ms; want 2000/s and 2500 ms", f.BaselinePerS, f.ThroughputRecoveryMS)
	}
	want := report.FaultAnomalies{Lost: 9, Duplicated: 4, Reordered: 2, Indeterminate: 39}
	if f.Anomalies != want || f.AttributedUntilMS != 7600 {
		t.Errorf("anomalies %+v until %d, want %+v until 7600", f.Anomalies, f.AttributedUntilMS, want)
	}
	p := fs[1]
	if p.AttributedUntilMS != 10000 || p.PublishRecoveryMS != -1 || p.Anomalies.Lost != 0 {
		t.Errorf("a fault that never recovered: %+v", p)
	}
	// Its baseline is the one second before it that no span touches (the
	// burst, 4000/s), and the 2000/s after it never reaches 90% of that.
	if p.BaselinePerS != 4000 || p.ThroughputRecoveryMS != -1 {
		t.Errorf("baseline %.0f/s, throughput back after %d ms; want 4000/s and -1", p.BaselinePerS, p.ThroughputRecoveryMS)
	}
	// At a fixed rate of 2000/s the baseline is at most that: back at the
	// end of second 10.
	p = faultResults(windows, t0, timeline, lost, 10*time.Second, 2000)[1]
	if p.BaselinePerS != 2000 || p.ThroughputRecoveryMS != 500 {
		t.Errorf("at 2000/s: baseline %.0f/s, throughput back after %d ms; want 2000/s and 500 ms", p.BaselinePerS, p.ThroughputRecoveryMS)
	}
}
