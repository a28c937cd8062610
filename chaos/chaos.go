// Package chaos applies a run's fault schedule to its target, its network and
// its clients, and measures each fault's window and how service came back.
package chaos

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Fault is one fault. Inject starts it; Heal ends it and must leave nothing
// behind, also when Inject failed halfway or never ran to its end (the run
// was interrupted). Inject may take as long as the fault's sequence needs
// (a rolling restart runs it all); the window lasts until Heal returns.
type Fault interface {
	// Name says what the fault does to what ("restart all nodes (kill)").
	Name() string
	Kind() string
	Inject(ctx context.Context) error
	Heal(ctx context.Context) error
}

// Detailer is an optional capability of a Fault: what Inject did that only
// Inject knows (which partitions moved where), for the report.
type Detailer interface {
	Detail() string
}

// Planned is a fault of the schedule: start At after the load starts, heal
// For later.
type Planned struct {
	At, For time.Duration
	Fault   Fault
	// Schedule says where in the scenario's schedule this fault comes from
	// ("faults.0: every 10s, 2 of 3").
	Schedule string
}

// Window is what happened to one planned fault.
type Window struct {
	Planned
	Start  time.Time // inject called
	Healed time.Time // heal returned (zero if it never ran)
	// PublishRecovered and DeliverRecovered: the first successful publish
	// and delivery after the heal (zero: none seen).
	PublishRecovered time.Time
	DeliverRecovered time.Time
	// NoPublish and NoDelivery are the longest stretches without a
	// successful publish (or delivery) from Start to that side's recovery,
	// to the resolution of the meter's sampling (meterEvery). Publishing
	// is measured no further than the end of the load, when it stops
	// anyway.
	NoPublish, NoDelivery time.Duration
	// SpanEnd ends the span anomalies are attributed to the fault over:
	// settleAfter once both sides recovered, or when the run ended first
	// (zero until then). AtStart and AtEnd are Options.Counts at the start
	// and at SpanEnd.
	SpanEnd        time.Time
	AtStart, AtEnd Counts
	Detail         string
	Err            error
}

// settleAfter extends a fault's span past its recovery: what the fault set
// off still completes then (sends given up at the heal, records read again
// after a rebalance), and belongs to it.
const settleAfter = time.Second

// Progress reports cumulative successful publishes and deliveries, live;
// the runner samples it to measure unavailability and recovery.
type Progress func() (acked, received uint64)

// Counts are cumulative anomaly counts of the run, read at a fault's start
// and at the end of its recovery.
type Counts struct {
	Duplicated, Reordered, Indeterminate uint64
}

// Options of a Runner.
type Options struct {
	Progress Progress
	// LoadEnd is when producers stop: publishing is not measured past it.
	LoadEnd time.Time
	// OnChange, when set, is called as each fault starts (healed false)
	// and ends (healed true), from the fault's goroutine.
	OnChange func(w Window, healed bool)
	// Counts, when set, reads the anomaly counts so far.
	Counts func() Counts
}

// meterEvery is the sampling period of the unavailability and recovery
// meter: the resolution of their figures.
const meterEvery = 20 * time.Millisecond

// healWait bounds a heal: a fault is healed with a fresh context after the
// run's has ended, and must not keep the run from finishing.
const healWait = 2 * time.Minute

// Runner applies a plan in the background.
type Runner struct {
	mu      sync.Mutex
	windows []*Window
	active  map[*Window]bool
	done    chan struct{}
	o       Options
}

// Start applies plan relative to start until ctx ends. Faults still active
// when ctx ends are healed (with a fresh, bounded context) before Wait
// returns.
func Start(ctx context.Context, start time.Time, plan []Planned, o Options) *Runner {
	if o.Progress == nil {
		o.Progress = func() (uint64, uint64) { return 0, 0 }
	}
	if o.Counts == nil {
		o.Counts = func() Counts { return Counts{} }
	}
	r := &Runner{active: map[*Window]bool{}, done: make(chan struct{}), o: o}
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		for _, p := range plan {
			t := time.NewTimer(time.Until(start.Add(p.At)))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			at := o.Counts()
			w := &Window{Planned: p, Start: time.Now(), AtStart: at}
			r.mu.Lock()
			r.windows = append(r.windows, w)
			r.active[w] = true
			r.mu.Unlock()
			if o.OnChange != nil {
				o.OnChange(*w, false)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.apply(ctx, w)
			}()
		}
	}()
	return r
}

func (r *Runner) apply(ctx context.Context, w *Window) {
	m := newMeter(r.o.Progress, w.Start, r.o.LoadEnd)
	meterDone := make(chan struct{})
	healed := make(chan struct{})
	go func() {
		defer close(meterDone)
		r.measure(ctx, w, m, healed)
	}()
	injectErr := w.Fault.Inject(ctx)
	if injectErr == nil {
		t := time.NewTimer(w.For)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	// Heal even after a failed inject or an interrupted run: a fault must
	// never outlive its window.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healWait)
	healErr := w.Fault.Heal(hctx)
	cancel()
	r.mu.Lock()
	w.Healed = time.Now()
	w.Err = errors.Join(injectErr, healErr)
	if d, ok := w.Fault.(Detailer); ok {
		w.Detail = d.Detail()
	}
	delete(r.active, w)
	snapshot := *w
	r.mu.Unlock()
	close(healed)
	if r.o.OnChange != nil {
		r.o.OnChange(snapshot, true)
	}
	<-meterDone
}

// measure samples progress from the fault's start until both sides
// recovered after the heal, or ctx ends.
func (r *Runner) measure(ctx context.Context, w *Window, m *meter, healed <-chan struct{}) {
	t := time.NewTicker(meterEvery)
	defer t.Stop()
	var acked0, recv0 uint64
	isHealed := false
	for {
		select {
		case <-ctx.Done():
			end := r.o.Counts()
			r.mu.Lock()
			w.NoPublish, w.NoDelivery = m.finish(time.Now())
			w.AtEnd, w.SpanEnd = end, time.Now()
			r.mu.Unlock()
			return
		case <-healed:
			healed = nil
			isHealed = true
			acked0, recv0 = m.sample(time.Now())
		case <-t.C:
			// Not the tick's own time: a tick that was waiting when the
			// heal came would date a recovery before the heal (seen:
			// "delivery recovered -6 ms after", read as never recovered).
			now := time.Now()
			acked, recv := m.sample(now)
			if !isHealed {
				continue
			}
			r.mu.Lock()
			if w.PublishRecovered.IsZero() && acked > acked0 {
				w.PublishRecovered = now
				m.stopPublish(now)
			}
			if w.DeliverRecovered.IsZero() && recv > recv0 {
				w.DeliverRecovered = now
				m.stopDelivery(now)
			}
			both := !w.PublishRecovered.IsZero() && !w.DeliverRecovered.IsZero()
			if both {
				w.NoPublish, w.NoDelivery = m.finish(now)
			}
			r.mu.Unlock()
			if both {
				sleep(ctx, settleAfter)
				end := r.o.Counts()
				r.mu.Lock()
				w.AtEnd, w.SpanEnd = end, time.Now()
				r.mu.Unlock()
				return
			}
		}
	}
}

// Wait blocks until every fault has been healed (after ctx of Start ended,
// or the plan ran out) and measured.
func (r *Runner) Wait() { <-r.done }

// Windows returns a copy of the windows so far.
func (r *Runner) Windows() []Window {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Window, len(r.windows))
	for i, w := range r.windows {
		out[i] = *w
	}
	return out
}

// ActiveSince names the faults active at any time from since to now: the
// ones active now and the ones healed since. A timeline row asks for its
// whole second, not for the instant it is written: a fault shorter than a
// second can start and heal between two rows (a busy machine delays the
// row's tick), and its row must still name it.
func (r *Runner) ActiveSince(since time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, w := range r.windows {
		if r.active[w] || !w.Healed.Before(since) {
			names = append(names, w.Fault.Name())
		}
	}
	return names
}
