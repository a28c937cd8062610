package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/checker"
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
				row := report.Second{
					T:            int64(now.Sub(r.loadStart).Round(time.Second) / time.Second),
					SentPerS:     float64(iv.Delta.Sent) / secs,
					AckedPerS:    float64(iv.Delta.Acked) / secs,
					ReceivedPerS: float64(iv.Delta.Received) / secs,
					InFlight:     int64(tot.Sent) - int64(tot.Acked+tot.Failed+tot.Indeterminate),
					Lag:          lag.Load(),
					Anomalies:    tot.Live.Duplicated + tot.Live.Reordered + tot.Live.Corrupted + tot.Live.Unexpected,
					PublishP99US: iv.Publish.ValueAtQuantile(99),
					E2EP99US:     iv.EndToEnd.ValueAtQuantile(99),
					Faults:       faults.Active(),
				}
				r.mu.Lock()
				r.res.Timeline = append(r.res.Timeline, row)
				r.mu.Unlock()
				r.progress(row)
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

func (r *run) progress(row report.Second) {
	if r.o.Progress == nil {
		return
	}
	total := r.s.Duration.D() / time.Second
	phase := fmt.Sprintf("%3ds/%ds", row.T, total)
	if time.Duration(row.T) > total {
		phase = fmt.Sprintf("drain +%ds", row.T-int64(total))
	}
	line := fmt.Sprintf("%s  sent %7.0f/s  acked %7.0f/s  recv %7.0f/s  in-flight %5d  lag %5d  p99 e2e %s  anomalies %d",
		phase, row.SentPerS, row.AckedPerS, row.ReceivedPerS, row.InFlight, row.Lag, fmtUS(row.E2EP99US), row.Anomalies)
	if len(row.Faults) > 0 {
		line += "  FAULT: " + strings.Join(row.Faults, ", ")
	}
	fmt.Fprintln(r.o.Progress, line)
}

func fmtUS(us int64) string {
	switch {
	case us == 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.1fms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.1fs", float64(us)/1e6)
}

// checkpoint writes results.json as it stands, marked partial, so that a
// killed mqcheck leaves what it had measured.
func (r *run) checkpoint(col *swarm.Collector) {
	res := col.Finalize(checker.Options{Drained: false, Claims: r.s.Claims})
	r.mu.Lock()
	cp := *r.res
	cp.Timeline = append([]report.Second(nil), r.res.Timeline...)
	cp.Notices = append([]report.Notice(nil), r.res.Notices...)
	r.mu.Unlock()
	cp.Partial = true
	cp.Counts, cp.Claims, cp.Examples = res.Counts, res.Claims, res.Examples
	cp.Verdict = checker.Unknown
	cp.Error = "checkpoint: the run had not finished when this was written"
	pub, e2e := col.Latency()
	cp.Latency = report.Latencies{Publish: report.Summarize(pub), EndToEnd: report.Summarize(e2e)}
	cp.EndedAt = time.Now().UTC().Format(time.RFC3339Nano)
	if err := report.WriteFile(filepath.Join(r.o.Dir, "results.json"), &cp); err != nil {
		r.log.Warn("checkpoint", "err", err)
	}
}
