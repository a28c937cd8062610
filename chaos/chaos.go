// Package chaos applies a run's fault schedule to its target and records each
// fault's window and how long service took to come back after it.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// Fault is one kind of fault. Inject starts it; Heal ends it and must leave
// nothing behind, also when Inject failed halfway.
type Fault interface {
	// Name says what the fault does to what ("restart all nodes (kill)").
	Name() string
	Kind() string
	Inject(ctx context.Context) error
	Heal(ctx context.Context) error
}

// Planned is a fault of the schedule: start At after the load starts, heal
// For later.
type Planned struct {
	At, For time.Duration
	Fault   Fault
}

// Window is what happened to one planned fault.
type Window struct {
	Fault  Fault
	Start  time.Time // inject called
	Healed time.Time // heal returned (zero if it never ran)
	// PublishRecovered and DeliverRecovered: the first successful publish
	// and delivery after the heal (zero: none seen).
	PublishRecovered time.Time
	DeliverRecovered time.Time
	Err              error
}

// Plan turns the scenario's schedule into faults on target.
func Plan(faults []scenarios.Fault, t *broker.Target) ([]Planned, error) {
	var plan []Planned
	for i, f := range faults {
		switch f.Kind {
		case "restart":
			if t.Restarter == nil {
				return nil, fmt.Errorf("faults.%d: restart needs a target mqcheck started itself (%s cannot be restarted by mqcheck)", i, t.Description)
			}
			if f.Node >= t.Restarter.Nodes() {
				return nil, fmt.Errorf("faults.%d.node: %d, but the target has %d nodes (0 to %d, or -1 for all)", i, f.Node, t.Restarter.Nodes(), t.Restarter.Nodes()-1)
			}
			plan = append(plan, Planned{At: f.At.D(), For: f.For.D(), Fault: &Restart{R: t.Restarter, Node: f.Node, Graceful: f.Graceful}})
		default:
			return nil, fmt.Errorf("faults.%d.kind: unknown fault %q (known: restart)", i, f.Kind)
		}
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].At < plan[j].At })
	return plan, nil
}

// Progress reports cumulative successful publishes and deliveries; the
// runner uses it to measure recovery after each heal.
type Progress func() (acked, received uint64)

// Runner applies a plan in the background.
type Runner struct {
	mu      sync.Mutex
	windows []*Window
	active  map[*Window]bool
	done    chan struct{}
}

// Start applies plan relative to start until ctx ends. Faults still active
// when ctx ends are healed (with a fresh, bounded context) before Wait
// returns.
func Start(ctx context.Context, start time.Time, plan []Planned, progress Progress) *Runner {
	r := &Runner{active: map[*Window]bool{}, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var wg sync.WaitGroup
		for _, p := range plan {
			wait := time.Until(start.Add(p.At))
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-time.After(wait):
			}
			w := &Window{Fault: p.Fault, Start: time.Now()}
			r.mu.Lock()
			r.windows = append(r.windows, w)
			r.active[w] = true
			r.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.apply(ctx, w, p.For, progress)
			}()
		}
		wg.Wait()
	}()
	return r
}

func (r *Runner) apply(ctx context.Context, w *Window, d time.Duration, progress Progress) {
	injectErr := w.Fault.Inject(ctx)
	if injectErr == nil {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	// Heal even after a failed inject or an interrupted run: a fault must
	// never outlive its window.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	healErr := w.Fault.Heal(hctx)
	cancel()
	acked0, recv0 := progress()
	r.mu.Lock()
	w.Healed = time.Now()
	w.Err = errors.Join(injectErr, healErr)
	delete(r.active, w)
	r.mu.Unlock()
	// Recovery is measured until both sides moved again, or the run ends.
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			acked, recv := progress()
			r.mu.Lock()
			if w.PublishRecovered.IsZero() && acked > acked0 {
				w.PublishRecovered = now
			}
			if w.DeliverRecovered.IsZero() && recv > recv0 {
				w.DeliverRecovered = now
			}
			both := !w.PublishRecovered.IsZero() && !w.DeliverRecovered.IsZero()
			r.mu.Unlock()
			if both {
				return
			}
		}
	}
}

// Wait blocks until every fault has been healed (after ctx of Start ended,
// or the plan ran out).
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

// Active names the faults active now.
func (r *Runner) Active() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, w := range r.windows {
		if r.active[w] {
			names = append(names, w.Fault.Name())
		}
	}
	return names
}
