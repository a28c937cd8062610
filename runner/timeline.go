package runner

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/redact"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/swarm"
)

type timeline struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (t *timeline) stop() {
	t.cancel()
	t.wg.Wait()
}

// startTimeline records one row per second (rates, in flight, lag,
// anomalies, active faults), prints a progress line, and checkpoints
// results.json, until stopped.
func (r *run) startTimeline(ctx context.Context, sw *swarm.Swarm, faults *chaos.Runner) *timeline {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &timeline{cancel: cancel}
	col := sw.Collector()
	// The lag is polled apart from the ticker: a slow broker must not
	// stall the timeline.
	var lag atomic.Int64
	lag.Store(-1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		lastCheckpoint := time.Now()
		// The checker's counts are cumulative; each row gets what happened
		// within its second, per kind, so the report can plot every kind.
		var prev checker.Live
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				iv := col.Interval()
				secs := iv.End.Sub(iv.Start).Seconds()
				if secs <= 0 {
					secs = 1
				}
				tot := iv.Totals
				live := tot.Live
				row := report.Second{
					T:             int64(now.Sub(r.loadStart).Round(time.Second) / time.Second),
					SentPerS:      float64(iv.Delta.Sent) / secs,
					AckedPerS:     float64(iv.Delta.Acked) / secs,
					ReceivedPerS:  float64(iv.Delta.Received) / secs,
					InFlight:      int64(tot.InFlight),
					Lag:           lag.Load(),
					Anomalies:     live.Duplicated + live.Reordered + live.Corrupted + live.Unexpected,
					Duplicated:    live.Duplicated - prev.Duplicated,
					Reordered:     live.Reordered - prev.Reordered,
					Corrupted:     live.Corrupted - prev.Corrupted,
					Unexpected:    live.Unexpected - prev.Unexpected,
					Indeterminate: iv.Delta.Indeterminate,
					PublishP99US:  iv.Publish.ValueAtQuantile(99),
					E2EP99US:      iv.EndToEnd.ValueAtQuantile(99),
					Faults:        faults.Active(),
				}
				prev = live
				r.mu.Lock()
				r.res.Timeline = append(r.res.Timeline, row)
				r.mu.Unlock()
				for _, o := range r.o.Observers {
					o.Second(row, iv.Publish, iv.EndToEnd)
				}
				if now.Sub(lastCheckpoint) >= r.o.CheckpointEvery {
					lastCheckpoint = now
					r.checkpoint(col)
				}
			}
		}
	}()
	if bl, ok := sw.Driver().(broker.Backlogger); ok {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			for {
				bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				n, err := bl.Backlog(bctx)
				cancel()
				if err != nil {
					n = -1
				}
				lag.Store(n)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	return t
}

// checkpoint writes results.json as it stands, marked partial, so that a
// killed mqcheck leaves what it had measured. col is nil before the load
// starts: the file then says only what ran.
func (r *run) checkpoint(col *swarm.Collector) {
	r.mu.Lock()
	cp := *r.res
	cp.Timeline = append([]report.Second(nil), r.res.Timeline...)
	cp.Notices = append([]report.Notice(nil), r.res.Notices...)
	r.mu.Unlock()
	cp.Partial = true
	cp.Verdict = checker.Unknown
	cp.Error = "checkpoint: the run had not finished when this was written"
	if col != nil {
		res := col.Finalize(checker.Options{Drained: false, Claims: r.s.Claims})
		cp.Counts, cp.Claims, cp.Examples = res.Counts, res.Claims, res.Examples
		pub, e2e := col.Latency()
		cp.Latency = report.Latencies{Publish: report.Summarize(pub), EndToEnd: report.Summarize(e2e)}
	}
	cp.EndedAt = time.Now().UTC().Format(time.RFC3339Nano)
	redact.Strings(&cp, r.scrub.String)
	if err := report.WriteFile(filepath.Join(r.o.Dir, "results.json"), &cp); err != nil {
		r.log.Warn("checkpoint", "err", err)
	}
}
