package runner

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/swarm"
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
	// Lost messages by ack time, in 100ms buckets.
	lost := make([]uint64, 110)
	lost[44] = 3   // 4.4-4.5 s: acked before the blackhole, destroyed by it
	lost[45] = 7   // 4.5-4.6 s: inside
	lost[75] = 2   // 7.5-7.6 s: inside (its settling second)
	lost[76] = 100 // after its span: the pause at 9 s is the next fault
	lost[105] = 50 // after every span: nobody's
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
	want := report.FaultAnomalies{Lost: 12, Duplicated: 4, Reordered: 2, Indeterminate: 39}
	if f.Anomalies != want || f.AttributedUntilMS != 7600 {
		t.Errorf("anomalies %+v until %d, want %+v until 7600", f.Anomalies, f.AttributedUntilMS, want)
	}
	p := fs[1]
	if p.AttributedUntilMS != 10000 || p.PublishRecoveryMS != -1 || p.Anomalies.Lost != 100 {
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

// TestBacklogLostInAKillIsTheKills: a producer sends 1000/s for 10 s, each
// message acked 2 ms after it was sent, as the swarm reports it (ranges of
// sends, exact samples, every ack). Consumers stop receiving at 3 s, so a
// backlog grows on the broker, and a kill at 6 s destroys the 3,000
// messages acked since; delivery resumes after the restart at 6.5 s. Every
// one of them was sent, and acked, before the kill: by send time (as runs
// attributed loss before) the kill's block showed none of them; by ack
// time, the first fault after the ack, it shows all 3,000.
func TestBacklogLostInAKillIsTheKills(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := int64(time.Millisecond)
	names := checker.NewNames("sub-0")
	c := checker.New(names)
	dom := names.Domain(0, "t/0")
	var ev []checker.Event
	var pulled uint64
	for seq := uint64(0); seq < 10000; seq++ {
		sent := t0.UnixNano() + int64(seq)*ms
		if seq%1024 == 0 {
			ev = append(ev, checker.Event{Kind: checker.Sent, Seq: seq, At: sent})
		}
		if seq%1000 == 999 { // the collector pulls a range every second
			ev = append(ev, checker.Event{Kind: checker.Sent, Seq: pulled, Count: uint32(seq + 1 - pulled), At: sent + ms})
			pulled = seq + 1
		}
		if seq >= 6000 && seq < 6500 { // in flight at the kill
			ev = append(ev, checker.Event{Kind: checker.Indeterminate, Seq: seq, At: t0.UnixNano() + 6500*ms})
			continue
		}
		ev = append(ev, checker.Event{Kind: checker.Acked, Seq: seq, At: sent + 2*ms})
		if seq < 3000 || seq >= 6500 {
			ev = append(ev, checker.Event{Kind: checker.Received, Seq: seq, Domain: dom, At: sent + 3*ms})
		}
	}
	ev = append(ev, checker.Event{Kind: checker.Sent, Seq: 9999, At: t0.UnixNano() + 9999*ms}) // the last send, exact
	c.Apply(ev)
	res := c.Finalize(checker.Options{Drained: true, Claims: []string{"at-least-once"}})
	if res.Counts.Lost != 3000 {
		t.Fatalf("counts %+v, want 3000 lost", res.Counts)
	}
	at := func(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	windows := []chaos.Window{{Planned: chaos.Planned{At: 6 * time.Second, Fault: namedFault("kill")},
		Start: at(6000), Healed: at(6500), PublishRecovered: at(6600), DeliverRecovered: at(6600), SpanEnd: at(7600)}}
	const buckets = 112
	bySent, _ := c.MissingByTime(checker.Sent, t0.UnixNano(), int64(checker.LostBucket), buckets)
	if before := sum(bySent[:60]); before != 3000 {
		t.Errorf("%d lost messages sent before the kill, want all 3000", before)
	}
	byAck, undated := c.MissingByTime(checker.Acked, t0.UnixNano(), int64(checker.LostBucket), buckets)
	if undated != 0 {
		t.Errorf("%d lost messages without an ack time", undated)
	}
	fs := faultResults(windows, t0, nil, byAck, 10*time.Second, 1000)
	if got := fs[0].Anomalies.Lost; got != 3000 {
		t.Errorf("the kill's block shows %d lost, want 3000", got)
	}
	// The evidence names the kill too.
	rr := &report.Results{Examples: res.Examples, Claims: res.Claims}
	attribute(rr, windows, swarm.ClockNS(t0))
	for _, x := range rr.Claims[0].Evidence {
		if x.Fault != "kill at 6s" || x.AckedAt < at(3000).UnixNano() || x.AckedAt >= at(6000).UnixNano() {
			t.Errorf("lost evidence %+v: want it acked between 3 s and 6 s and blamed on the kill at 6s", x)
		}
	}
	if len(rr.Claims[0].Evidence) == 0 {
		t.Error("no evidence")
	}
}

func sum(xs []uint64) uint64 {
	var n uint64
	for _, x := range xs {
		n += x
	}
	return n
}
