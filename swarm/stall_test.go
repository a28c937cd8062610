package swarm_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/swarm"
	"github.com/mqcheck/mqcheck/swarm/swarmtest"
)

// The stall tests run a load on a virtual clock against a driver that
// stalls on a script, so the latencies are what the stall implies, exactly:
// the expected percentiles are computed from the script, and the only
// slack allowed is HdrHistogram's three significant digits.

const (
	ms    = int64(time.Millisecond)
	t0    = int64(1_000_000) * int64(time.Second) // the virtual clock's start, unix ns
	rate  = 1000.0                                // messages per second: one every ms
	loadD = 2 * time.Second
)

type stallRun struct {
	totals swarm.Totals
	lat    swarm.Histograms
	res    *checker.Result
	span   [2]int64
}

// produceStalled runs the 2s load at 1000/s on a virtual clock against a
// driver that stalls as scripted, with window messages in flight at most,
// on a lane (lanes 1: the producer goes alone once its window is full)
// or alone from the start (-1): the same latencies to the microsecond.
func produceStalled(ctx context.Context, t *testing.T, window, lanes int, stalls ...swarmtest.Stall) *swarm.Swarm {
	t.Helper()
	clock := swarmtest.NewClock(t0)
	drv := swarmtest.NewDriver(clock, stalls...)
	sw := swarm.New(swarm.Config{RunID: 1, Seed: 1, Producers: 1, Consumers: 1, Rate: rate, Duration: loadD,
		MessageSize: 64, MaxInFlight: window, Clock: clock, FlushTimeout: time.Second, Lanes: lanes}, drv, nil)
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	<-drv.Ready()
	if err := sw.ProduceFrom(ctx, t0); err != nil {
		t.Fatal(err)
	}
	return sw
}

func runStalled(t *testing.T, window, lanes int, stalls ...swarmtest.Stall) stallRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw := produceStalled(ctx, t, window, lanes, stalls...)
	dr := sw.Drain(ctx, 10*time.Second, 0)
	sw.Close()
	if !dr.Drained {
		t.Fatalf("drain: %s", dr.Reason)
	}
	col := sw.Collector()
	var r stallRun
	r.totals, r.lat = col.Totals(), col.Latency()
	r.res = col.Finalize(checker.Options{Drained: true, Claims: []string{"at-least-once"}})
	r.span[0], r.span[1] = sw.LoadSpan()
	return r
}

// nth is the k-th smallest (from 1) of the latencies the script implies,
// given as runs of values: n values evenly spaced from first to last.
type valueRun struct {
	n           int
	first, last float64 // µs
}

func nth(runs []valueRun, k int) float64 {
	for _, r := range runs {
		if k <= r.n {
			if r.n == 1 {
				return r.first
			}
			return r.first + (r.last-r.first)*float64(k-1)/float64(r.n-1)
		}
		k -= r.n
	}
	return math.NaN()
}

// checkPercentile compares a histogram's percentile with the value the
// script implies (the k-th smallest, as HdrHistogram counts it), within
// HdrHistogram's precision.
func checkPercentile(t *testing.T, name string, h *hdrhistogram.Histogram, q float64, runs []valueRun) {
	t.Helper()
	total := 0
	for _, r := range runs {
		total += r.n
	}
	if h.TotalCount() != int64(total) {
		t.Errorf("%s: %d samples, the script implies %d", name, h.TotalCount(), total)
		return
	}
	k := int(math.Ceil(q / 100 * float64(total)))
	want := max(nth(runs, k), 1) // a latency of 0 is recorded as 1µs, the histogram's floor
	got := float64(h.ValueAtQuantile(q))
	// Three significant digits: a value is stored within 1/1000 of itself.
	if math.Abs(got-want) > want/1000+1 {
		t.Errorf("%s p%g = %s, the stall implies %s", name, q, time.Duration(got)*time.Microsecond, time.Duration(want)*time.Microsecond)
	}
}

// forEachLanes runs f with the producer alone (lanes -1) and on a lane (1).
func forEachLanes(t *testing.T, f func(t *testing.T, lanes int)) {
	for _, lanes := range []int{-1, 1} {
		t.Run(map[int]string{-1: "alone", 1: "lane"}[lanes], func(t *testing.T) { f(t, lanes) })
	}
}

// TestMidRunStall: acks and deliveries stall from 0.5s to 1.7s of a 2s load
// at 1000/s. The 1,200 messages due in the stall are sent on time (the
// window holds them all) and acked and received at 1.7s: latencies 1ms to
// 1.2s; the other 800 take no time at all.
func TestMidRunStall(t *testing.T) {
	forEachLanes(t, func(t *testing.T, lanes int) {
		r := runStalled(t, 5000, lanes, swarmtest.Stall{From: t0 + 500*ms, To: t0 + 1700*ms})
		if r.totals.Sent != 2000 || r.totals.Acked != 2000 || r.totals.NotSent != 0 {
			t.Fatalf("sent %d, acked %d, not sent %d; want 2000, 2000, 0", r.totals.Sent, r.totals.Acked, r.totals.NotSent)
		}
		implied := []valueRun{{800, 0, 0}, {1200, 1000, 1_200_000}}
		for _, s := range []swarm.Series{swarm.Publish, swarm.PublishAcked, swarm.EndToEnd} {
			for _, q := range []float64{50, 90, 99, 99.9} {
				checkPercentile(t, s.String(), r.lat[s], q, implied)
			}
		}
		// The broker cost, from the actual send, is the same here: every send
		// was on time.
		checkPercentile(t, "send_to_ack", r.lat[swarm.SendToAck], 99, implied)
		if r.res.Verdict() != checker.Pass {
			t.Errorf("verdict %s, want pass: nothing was lost", r.res.Verdict())
		}
	})
}

// TestEndOfRunStall: the stall starts at 0.8s and outlasts the 2s load
// (it ends at 2.5s). The 100 messages of the window are sent at 0.8-0.9s
// and acked at 2.5s (1.601s to 1.7s); the other 1,100 the load intended
// are never sent, and count with their latency so far, to the end of the
// load (1ms to 1.1s). Before, the loop stopped at the end and forgot them:
// publish p50 was the unstalled messages' ~0.
func TestEndOfRunStall(t *testing.T) {
	forEachLanes(t, func(t *testing.T, lanes int) {
		r := runStalled(t, 100, lanes, swarmtest.Stall{From: t0 + 800*ms, To: t0 + 2500*ms})
		if r.totals.Sent != 900 || r.totals.Acked != 900 || r.totals.NotSent != 1100 {
			t.Fatalf("sent %d, acked %d, not sent %d; want 900, 900, 1100", r.totals.Sent, r.totals.Acked, r.totals.NotSent)
		}
		if r.res.Counts.NotSent != 1100 {
			t.Errorf("counts.not_sent %d, want 1100", r.res.Counts.NotSent)
		}
		acked := []valueRun{{800, 0, 0}, {100, 1_601_000, 1_700_000}}
		notSent := []valueRun{{1100, 1000, 1_100_000}}
		every := []valueRun{{800, 0, 0}, {1100, 1000, 1_100_000}, {100, 1_601_000, 1_700_000}}
		for _, q := range []float64{50, 90, 99, 99.9} {
			checkPercentile(t, "publish", r.lat[swarm.Publish], q, every)
			checkPercentile(t, "publish_acked", r.lat[swarm.PublishAcked], q, acked)
			checkPercentile(t, "publish_not_sent", r.lat[swarm.PublishNotSent], q, notSent)
			checkPercentile(t, "end_to_end", r.lat[swarm.EndToEnd], q, acked)
		}
		// The load's true length: the producer stopped at the planned end.
		if got := time.Duration(r.span[1] - r.span[0]); got != loadD {
			t.Errorf("load span %v, want %v", got, loadD)
		}
	})
}

// TestNeverEndingStall: a stall from 1.5s that never ends: the window's
// messages come back indeterminate at the close, and their latency is in
// the headline and in publish_indeterminate, not silently left out.
func TestNeverEndingStall(t *testing.T) {
	forEachLanes(t, func(t *testing.T, lanes int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sw := produceStalled(ctx, t, 50, lanes, swarmtest.Stall{From: t0 + 1500*ms})
		sw.Close()
		tot, lat := sw.Collector().Totals(), sw.Collector().Latency()
		if tot.Indeterminate != 50 || tot.NotSent != 450 || tot.Acked != 1500 {
			t.Fatalf("acked %d, indeterminate %d, not sent %d; want 1500, 50, 450", tot.Acked, tot.Indeterminate, tot.NotSent)
		}
		// Sent at 1.5-1.549s, given up when the producer closed at the end
		// of the load (the virtual clock stands still at 2s): 451ms to 500ms.
		checkPercentile(t, "publish_indeterminate", lat[swarm.PublishIndeterminate], 50, []valueRun{{50, 451_000, 500_000}})
		every := []valueRun{{1500, 0, 0}, {450, 1000, 450_000}, {50, 451_000, 500_000}}
		for _, q := range []float64{50, 90, 99} {
			checkPercentile(t, "publish", lat[swarm.Publish], q, every)
		}
	})
}

// TestSettleSeesALateDuplicate: every message arrives, then, 300ms later,
// the broker delivers the first one again (a redelivery after a crash near
// the end). The drain settles for 2s after everything arrived, so the
// duplicate is counted and at-most-once fails; a drain that stopped the
// moment nothing was outstanding never saw it and passed.
func TestSettleSeesALateDuplicate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw, drv := produceInRealTime(ctx, t, 200*time.Millisecond)
	drv.RedeliverFirstAfter(300 * time.Millisecond)
	const settle = 2 * time.Second
	dr := sw.Drain(ctx, 30*time.Second, settle)
	sw.Close()
	if !dr.Drained || dr.Settle < settle {
		t.Fatalf("drain %+v: want complete, settled %v", dr, settle)
	}
	res := sw.Collector().Finalize(checker.Options{Drained: true, Claims: []string{"at-most-once"}})
	if res.Counts.Duplicated != 1 || res.Verdict() != checker.Fail {
		t.Fatalf("duplicated %d, verdict %s; want the late duplicate counted and at-most-once failed", res.Counts.Duplicated, res.Verdict())
	}
}

// TestDrainDeadlineBoundsTheSettle: the settle never outlasts the drain
// timeout.
func TestDrainDeadlineBoundsTheSettle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw, _ := produceInRealTime(ctx, t, 100*time.Millisecond)
	dr := sw.Drain(ctx, 300*time.Millisecond, time.Hour)
	sw.Close()
	// An hour's settle cut to the 300ms deadline; a minute is slack for a
	// busy machine, not a speed target.
	if !dr.Drained || dr.Duration > time.Minute {
		t.Fatalf("drain %+v: the settle must end at the drain deadline", dr)
	}
}

// produceInRealTime runs a load of d at 1000/s against a driver that acks
// and delivers at once, in real time.
func produceInRealTime(ctx context.Context, t *testing.T, d time.Duration) (*swarm.Swarm, *swarmtest.Driver) {
	t.Helper()
	drv := swarmtest.NewSlowDriver(math.Inf(1), 0, 1)
	sw := swarm.New(swarm.Config{RunID: 1, Seed: 1, Producers: 1, Consumers: 1, Rate: 1000, Duration: d,
		MessageSize: 64, FlushTimeout: time.Second}, drv, nil)
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	<-drv.Ready()
	if err := sw.Produce(ctx); err != nil {
		t.Fatal(err)
	}
	return sw, drv
}
