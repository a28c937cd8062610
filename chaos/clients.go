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
	// point is where in its processing a consumer crashes ("": after
	// it, before the ack).
	point string
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
	at := ""
	if f.point != "" {
		at = " " + f.point
	}
	if f.i < 0 {
		return fmt.Sprintf("crash every %s%s", what, at)
	}
	return fmt.Sprintf("crash %s %d%s", what, f.i, at)
}

func (f *clientCrash) Inject(ctx context.Context) error {
	// All at once, as when a host dies: an idle consumer waits a while for
	// a delivery to die holding, and the others must not wait for it.
	err := atOnce(f.i, f.n, func(i int) error {
		if pc, ok := f.c.(PointCrasher); ok && f.consumer && f.point != "" {
			return pc.CrashConsumerAt(ctx, i, f.point)
		}
		if f.consumer {
			return f.c.CrashConsumer(ctx, i)
		}
		return f.c.CrashProducer(ctx, i)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

// atOnce runs fn for client i of n, or for every one of them at once when
// i is -1, and joins their errors.
func atOnce(i, n int, fn func(i int) error) error {
	first, last := i, i
	if i < 0 {
		first, last = 0, n-1
	}
	errs := make([]error, last-first+1)
	var wg sync.WaitGroup
	for j := first; j <= last; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[j-first] = fn(j)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (f *clientCrash) Heal(context.Context) error { return nil }
