package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mqcheck/mqcheck/scenarios"
)

// Joiner is an optional capability of Clients: consumers that join a
// subscription during the run and leave it again (the swarm implements it).
type Joiner interface {
	Subscriptions() int
	// Join starts one more consumer in subscription sub; leave stops it
	// cleanly and returns once it has.
	Join(ctx context.Context, sub int) (leave func() error, err error)
}

// storm is a rebalance storm: every interval of its window one more
// consumer joins every subscription, and leaves again the interval after,
// so that every consumer group rebalances every interval. Its heal makes
// the last ones leave.
type storm struct {
	j        Joiner
	interval time.Duration

	stop chan struct{}
	done chan struct{}

	mu            sync.Mutex
	joins, leaves int
	leave         []func() error
	errs          []error
}

func buildStorm(d *Deps, o Occurrence, path string) (Fault, error) {
	j, ok := d.Clients.(Joiner)
	if !ok {
		return nil, fmt.Errorf("%s: %s needs consumers that can join and leave during the run", path, o.Fault.Kind)
	}
	iv := o.Fault.Interval.D()
	if iv <= 0 {
		iv = scenarios.DefaultStormInterval.D()
	}
	return &storm{j: j, interval: iv}, nil
}

func (f *storm) Kind() string { return scenarios.FaultRebalanceStorm }
func (f *storm) Name() string {
	return fmt.Sprintf("rebalance storm (a consumer joins or leaves every subscription every %s)", f.interval)
}

func (f *storm) Detail() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("%d joins and %d leaves of an extra consumer in each subscription", f.joins, f.leaves)
}

// Inject starts the storm: the first consumers join now.
func (f *storm) Inject(ctx context.Context) error {
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	err := f.toggle(ctx)
	go func() {
		defer close(f.done)
		t := time.NewTicker(f.interval)
		defer t.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := f.toggle(ctx); err != nil {
					f.mu.Lock()
					f.errs = append(f.errs, err)
					f.mu.Unlock()
				}
			}
		}
	}()
	return err
}

// toggle makes the extra consumers leave if they are in, else join.
func (f *storm) toggle(ctx context.Context) error {
	f.mu.Lock()
	leave := f.leave
	f.leave = nil
	f.mu.Unlock()
	if len(leave) > 0 {
		return f.leaveAll(leave)
	}
	var errs []error
	for sub := range f.j.Subscriptions() {
		l, err := f.j.Join(ctx, sub)
		if err != nil {
			errs = append(errs, fmt.Errorf("joining subscription %d: %w", sub, err))
			continue
		}
		f.mu.Lock()
		f.leave = append(f.leave, l)
		f.joins++
		f.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (f *storm) leaveAll(leave []func() error) error {
	var errs []error
	for _, l := range leave {
		if err := l(); err != nil {
			errs = append(errs, err)
		}
		f.mu.Lock()
		f.leaves++
		f.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Heal ends the storm: the consumers still in leave.
func (f *storm) Heal(context.Context) error {
	if f.stop == nil {
		return nil
	}
	close(f.stop)
	<-f.done
	f.mu.Lock()
	leave := f.leave
	f.leave = nil
	errs := f.errs
	f.mu.Unlock()
	return errors.Join(append(errs, f.leaveAll(leave))...)
}
