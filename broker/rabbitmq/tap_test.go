package rabbitmq_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/message"
)

// gate holds every consumer's handler while shut.
type gate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGate(open bool) *gate {
	g := &gate{open: make(chan struct{})}
	if open {
		close(g.open)
	}
	return g
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *gate) wait(ctx context.Context) bool {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

type key struct {
	producer uint32
	seq      uint64
}

// tap wraps a RabbitMQ target for one run: consumers' handlers pass a gate,
// acked publishes and received messages are recorded, and hooks run around
// the restart fault.
type tap struct {
	t    testing.TB
	gate *gate
	// Around Restarter.Stop and Start.
	beforeStop, afterStop, afterStart func(tp *tap)

	mu       sync.Mutex
	acked    map[key]bool
	received map[key]bool
}

func newTap(t testing.TB, open bool) *tap {
	return &tap{t: t, gate: newGate(open), acked: map[key]bool{}, received: map[key]bool{}}
}

// unreceived counts acked messages not received yet.
func (tp *tap) unreceived() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	n := 0
	for k := range tp.acked {
		if !tp.received[k] {
			n++
		}
	}
	return n
}

func (tp *tap) open(ctx context.Context, cfg broker.Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	t, err := broker.Typed(rabbitmq.Open)(ctx, cfg, spec, env)
	if err != nil {
		return nil, err
	}
	w := *t
	w.Driver = &tapDriver{Driver: t.Driver, tp: tp}
	if t.Restarter != nil {
		w.Restarter = &tapRestarter{Restarter: t.Restarter, tp: tp}
	}
	return &w, nil
}

type tapDriver struct {
	broker.Driver
	tp *tap
}

func (d *tapDriver) Backlog(ctx context.Context) (int64, error) {
	return d.Driver.(broker.Backlogger).Backlog(ctx)
}

func (d *tapDriver) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	inner := o.OnComplete
	o.OnComplete = func(m *broker.Message, out broker.Outcome, err error) {
		if out == broker.Acked {
			d.tp.mu.Lock()
			d.tp.acked[key{uint32(m.Producer), m.Seq}] = true
			d.tp.mu.Unlock()
		}
		inner(m, out, err)
	}
	return d.Driver.NewProducer(ctx, o)
}

func (d *tapDriver) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	c, err := d.Driver.NewConsumer(ctx, o)
	if err != nil {
		return nil, err
	}
	return &tapConsumer{Consumer: c, tp: d.tp}, nil
}

type tapConsumer struct {
	broker.Consumer
	tp *tap
}

func (c *tapConsumer) Run(ctx context.Context, h broker.Handler) error {
	return c.Consumer.Run(ctx, func(d *broker.Delivery) error {
		if !c.tp.gate.wait(ctx) {
			return broker.ErrReject
		}
		err := h(d)
		if hd, derr := message.Decode(d.Payload); err == nil && derr == nil && !d.DeadLettered {
			c.tp.mu.Lock()
			c.tp.received[key{hd.Producer, hd.Seq}] = true
			c.tp.mu.Unlock()
		}
		return err
	})
}

type tapRestarter struct {
	broker.Restarter
	tp *tap
}

func (r *tapRestarter) Stop(ctx context.Context, node int, graceful bool) error {
	if r.tp.beforeStop != nil {
		r.tp.beforeStop(r.tp)
	}
	err := r.Restarter.Stop(ctx, node, graceful)
	if r.tp.afterStop != nil {
		r.tp.afterStop(r.tp)
	}
	return err
}

func (r *tapRestarter) Start(ctx context.Context, node int) error {
	err := r.Restarter.Start(ctx, node)
	if r.tp.afterStart != nil {
		r.tp.afterStart(r.tp)
	}
	return err
}
