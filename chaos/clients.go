package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// clientCrash crashes one producer or consumer (or every one) at once: the
// swarm closes it as a killed client stops and starts a new one in its
// place. A crashed producer's messages in flight become indeterminate; a
// crashed consumer's delivery it processed and did not acknowledge is
// delivered again. Nothing to heal.
type clientCrash struct {
	c        Clients
	consumer bool
	i, n     int
}

func (f *clientCrash) Kind() string {
	if f.consumer {
		return "consumer-crash"
	}
	return "producer-crash"
}

func (f *clientCrash) Name() string {
	what := "producer"
	if f.consumer {
		what = "consumer"
	}
	if f.i < 0 {
		return fmt.Sprintf("crash every %s", what)
	}
	return fmt.Sprintf("crash %s %d", what, f.i)
}

func (f *clientCrash) Inject(ctx context.Context) error {
	first, last := f.i, f.i
	if f.i < 0 {
		first, last = 0, f.n-1
	}
	// All at once, as when a host dies: an idle consumer waits a while for
	// a delivery to die holding, and the others must not wait for it.
	errs := make([]error, last-first+1)
	var wg sync.WaitGroup
	for i := first; i <= last; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.consumer {
				errs[i-first] = f.c.CrashConsumer(ctx, i)
			} else {
				errs[i-first] = f.c.CrashProducer(ctx, i)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

func (f *clientCrash) Heal(context.Context) error { return nil }
