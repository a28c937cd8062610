package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/processing"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// storeOpenTimeout bounds opening the processing store (reaching its
// server, creating the run's database).
const storeOpenTimeout = 30 * time.Second

// readBackTimeout bounds reading the side effects back at the end.
const readBackTimeout = 2 * time.Minute

// openStore opens consumers.processing's store, if the scenario has one;
// a store that cannot be reached is an infrastructure error.
func (r *run) openStore(ctx context.Context) (processing.Store, error) {
	pr := r.s.Consumers.Processing
	if !pr.Enabled() {
		return nil, nil
	}
	sctx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	store, err := processing.Open(sctx, processing.Options{Kind: pr.Store, URL: pr.URL, TTL: pr.TTL.D(), RunID: r.res.RunID,
		Keep: pr.Keep, Consumers: r.s.Consumers.Count * r.s.Consumers.Subscriptions,
		Exec: pr.Target == scenarios.TargetExec, Dir: filepath.Join(r.o.Dir, "store")})
	if err != nil {
		return nil, fmt.Errorf("%w: consumers.processing: opening the %s store: %w", ErrInfra, pr.Store, err)
	}
	r.log.Info("processing store", "store", pr.Store)
	r.res.Processing = &report.Processing{Store: pr.Store}
	return store, nil
}

// readBack feeds the side effects found in the store to the checker (the
// processed layer) and the consumers' own processing counts to the
// results. Call it once the consumers stopped.
func (r *run) readBack(ctx context.Context, store processing.Store, sw *swarm.Swarm) {
	if store == nil {
		r.processedWhy = "the scenario has no consumers.processing"
		return
	}
	st := sw.Processing()
	r.mu.Lock()
	p := r.res.Processing
	p.Applied, p.Skipped, p.Stopped, p.Errors, p.FirstError = st.Applied, st.Skipped, st.Stopped, st.Errors, st.FirstError
	r.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readBackTimeout)
	defer cancel()
	evs := make([]checker.Event, 0, 4096)
	err := sw.Collector().Checker(func(c *checker.Checker) error {
		return store.Effects(rctx, func(es []processing.Effect) {
			evs = evs[:0]
			for _, e := range es {
				evs = append(evs, checker.Event{Kind: checker.Processed, Sub: e.Sub, Producer: e.Producer, Seq: e.Seq, At: e.At})
			}
			c.Apply(evs)
		})
	})
	if err != nil {
		r.log.Warn("reading the side effects back", "err", err)
		r.mu.Lock()
		p.ReadBackError = err.Error()
		r.mu.Unlock()
		r.processedWhy = "the side effects could not be read back from the " + store.Kind() + " store: " + err.Error()
		return
	}
	r.processed = true
}

// warnTTL warns when a redis dedupe key would expire before the broker
// delivers an unacknowledged message again: that redelivery would find no
// key and be processed twice.
func (r *run) warnTTL(cfg broker.Config) {
	pr := r.s.Consumers.Processing
	if pr.Store != processing.Redis {
		return
	}
	rd, ok := cfg.(broker.Redeliverer)
	if !ok {
		return
	}
	field, after := rd.RedeliveryAfter()
	ttl := pr.TTL.D()
	if ttl <= 0 {
		ttl = processing.DefaultTTL
	}
	if after <= 0 || ttl >= after {
		return
	}
	msg := fmt.Sprintf("consumers.processing.ttl %s is shorter than the broker's redelivery interval (broker.%s.%s %s): "+
		"a message redelivered after its key expired is processed again", ttl, r.s.Broker.Kind, field, after)
	r.log.Warn(msg)
	r.mu.Lock()
	r.res.Notices = append(r.res.Notices, report.Notice{Kind: "processing", Detail: msg, Warning: true})
	r.mu.Unlock()
}
