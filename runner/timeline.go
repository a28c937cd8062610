package runner

import (
	"context"
	"path/filepath"

	"github.com/HdrHistogram/hdrhistogram-go"
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
// anomalies, active faults) until stopped, and hands each to the
// observers (progress, metrics, latency logs) and the checkpoints on
// another goroutine, so that a slow observer never delays a row. Row t is
// due t seconds after the load's start, whenever the row before it was
// cut: a row cut late (a busy machine held this goroutine) covers more
// than its second, and the next one is due on time again. A ticker's
// rows, labelled by when they were cut, shifted every later label by one
// after a single stall of half a second.
func (r *run) startTimeline(ctx context.Context, sw *swarm.Swarm, faults *chaos.Runner, pacer swarm.Pacer, search *findMax) *timeline {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &timeline{cancel: cancel}
	col := sw.Collector()
	q := newRowQueue()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		r.observe(q, col)
	}()
	// The lag is polled apart from the ticker: a slow broker must not
	// stall the timeline.
	var lag atomic.Int64
	lag.Store(-1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer q.close()
		due := func(t int64) time.Duration { return time.Until(r.loadStart.Add(time.Duration(t) * time.Second)) }
		tick := time.NewTimer(due(1))
		defer tick.Stop()
		// The checker's counts are cumulative; each row gets what happened
		// within its second, per kind, so the report can plot every kind.
		var prev checker.Live
		var label int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				label++
				if r.o.beforeRow != nil {
					r.o.beforeRow(label)
				}
				// Past due already after a stall of over a second: then
				// at once, a row of the moments since.
				tick.Reset(due(label + 1))
				iv := col.Interval()
				secs := iv.End.Sub(iv.Start).Seconds()
				if secs <= 0 {
					secs = 1
				}
				tot := iv.Totals
				live := tot.Live
				row := report.Second{
					T:             label,
					TargetPerS:    targetIn(pacer, sw, label),
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
					Faults:        faults.ActiveSince(iv.Start),
				}
				prev = live
				r.mu.Lock()
				r.res.Timeline = append(r.res.Timeline, row)
				r.mu.Unlock()
				if search != nil {
					search.observe(row, iv.Latency)
				}
				q.push(row, iv.Latency)
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

// targetIn is the rate the load intended over timeline row t, (t-1, t]
// seconds: the sends due in it. 0 in closed loop and after the load.
func targetIn(pacer swarm.Pacer, sw *swarm.Swarm, t int64) float64 {
	if pacer == nil {
		return 0
	}
	start, _ := sw.LoadSpan()
	end := time.Duration(sw.LoadEnd() - start)
	from, to := min(time.Duration(t-1)*time.Second, end), min(time.Duration(t)*time.Second, end)
	if to <= from {
		return 0
	}
	return float64(pacer.Hits(to)-pacer.Hits(from)) / (to - from).Seconds()
}

// observe hands each row to the observers, and checkpoints results.json
// every CheckpointEvery, until the queue is closed and empty.
func (r *run) observe(q *rowQueue, col *swarm.Collector) {
	lastCheckpoint := time.Now()
	for {
		row, lat, ok := q.pop()
		if !ok {
			return
		}
		var series map[string]*hdrhistogram.Histogram
		for _, o := range r.o.Observers {
			if so, ok := o.(SeriesObserver); ok {
				if series == nil {
					series = make(map[string]*hdrhistogram.Histogram, len(lat))
					for i, h := range lat {
						series[swarm.Series(i).String()] = h
					}
				}
				so.Series(row, series)
				continue
			}
			o.Second(row, lat[swarm.Publish], lat[swarm.EndToEnd])
		}
		if now := time.Now(); now.Sub(lastCheckpoint) >= r.o.CheckpointEvery {
			lastCheckpoint = now
			r.checkpoint(col)
		}
	}
}

// rowQueue passes timeline rows from the ticker to the observers without
// ever blocking the ticker. An observer far behind gets rows merged
// (the latest row, with the latency of every interval it stands for),
// so memory stays bounded; the timeline itself keeps every row.
type rowQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	rows   []queuedRow
	closed bool
}

type queuedRow struct {
	row report.Second
	lat swarm.Histograms
}

// maxQueuedRows: beyond this many rows waiting, new ones are merged into
// the last.
const maxQueuedRows = 16

func newRowQueue() *rowQueue {
	q := &rowQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *rowQueue) push(row report.Second, lat swarm.Histograms) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.rows); n >= maxQueuedRows {
		last := &q.rows[n-1]
		for i, h := range lat {
			last.lat[i].Merge(h)
		}
		last.row = row
	} else {
		q.rows = append(q.rows, queuedRow{row, lat})
	}
	q.cond.Signal()
}

func (q *rowQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Signal()
}

// pop waits for a row; false once closed and empty.
func (q *rowQueue) pop() (report.Second, swarm.Histograms, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.rows) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.rows) == 0 {
		return report.Second{}, swarm.Histograms{}, false
	}
	r := q.rows[0]
	q.rows = q.rows[1:]
	return r.row, r.lat, true
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
		res := col.Finalize(r.checkerOptions(false))
		cp.Counts, cp.Claims, cp.Examples = res.Counts, res.Claims, res.Examples
		cp.Latency = latencies(col)
	}
	cp.EndedAt = time.Now().UTC().Format(time.RFC3339Nano)
	redact.Strings(&cp, r.scrub.String)
	if err := report.WriteFile(filepath.Join(r.o.Dir, "results.json"), &cp); err != nil {
		r.log.Warn("checkpoint", "err", err)
	}
}
