package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

// driver is the broker.Driver of one run; exec and url targets share it.
type driver struct {
	st *settings
	// deleteOnClose: the broker outlives the run (url targets). A private
	// node's queues go with its data directory at Target.Close.
	deleteOnClose bool

	// queues lists every queue the harness consumes: the subscription
	// queues, then the dead-letter queues. main[i] and dead[i] are
	// subscription i's (dead[i] nil without dead-lettering).
	queues []*queueState
	main   []*queueState
	dead   []*queueState

	// consumers[i] counts subscription i's consumers between NewConsumer
	// and Close: how many should be attached to its queues.
	consumers []atomic.Int32
	// lastAttach is when a consumer last (re)attached (unix ns); epoch
	// changes with every attach and detach.
	lastAttach atomic.Int64
	epoch      atomic.Int64

	adminMu sync.Mutex
	admin   *conn
	adminCh *amqp.Channel

	backlogMu sync.Mutex

	mu        sync.Mutex
	createdQ  []string // what Setup created, deleted at Close unless keep
	createdEx []string
}

// queueState is what Backlog needs to know about one consumed queue.
type queueState struct {
	name   string
	idx    int
	stream bool
	// attached counts consumers consuming from it right now.
	attached atomic.Int32
	// Probes: Backlog publishes probe n and waits until a consumer of the
	// queue has seen it (seen >= n).
	sent atomic.Int64
	seen atomic.Int64
}

var (
	_ broker.Driver     = (*driver)(nil)
	_ broker.Backlogger = (*driver)(nil)
)

func newDriver(st *settings, deleteOnClose bool) *driver {
	d := &driver{st: st, deleteOnClose: deleteOnClose, consumers: make([]atomic.Int32, len(st.topo.queues))}
	for _, q := range st.topo.queues {
		qs := &queueState{name: q, idx: len(d.queues), stream: st.topo.stream}
		d.queues = append(d.queues, qs)
		d.main = append(d.main, qs)
	}
	d.dead = make([]*queueState, len(d.main))
	for i, q := range st.topo.dlqs {
		qs := &queueState{name: q, idx: len(d.queues)}
		d.queues = append(d.queues, qs)
		d.dead[i] = qs
	}
	return d
}

// attach records that a consumer started (delta 1) or stopped (-1)
// consuming from q.
func (d *driver) attach(q *queueState, delta int32) {
	if q == nil {
		return
	}
	q.attached.Add(delta)
	if delta > 0 {
		d.lastAttach.Store(time.Now().UnixNano())
	}
	d.epoch.Add(1)
}

// withAdmin runs fn on the driver's own channel, reconnecting it as needed.
// A call the broker answers with a channel error (a passive declare of a
// missing queue) closes the channel: the next call opens another.
func (d *driver) withAdmin(ctx context.Context, fn func(ch *amqp.Channel) error) error {
	d.adminMu.Lock()
	defer d.adminMu.Unlock()
	if d.admin == nil || d.admin.IsClosed() {
		c, err := d.st.connect(ctx, fmt.Sprintf("mqcheck-%s-admin", d.st.runID))
		if err != nil {
			return err
		}
		d.admin, d.adminCh = c, nil
	}
	c := d.admin
	return c.guard(ctx, func() error {
		if d.adminCh == nil || d.adminCh.IsClosed() {
			ch, err := c.Channel()
			if err != nil {
				return fmt.Errorf("opening a channel: %w", err)
			}
			d.adminCh = ch
		}
		return fn(d.adminCh)
	})
}

// Setup declares the run's exchanges and queues. On a broker the run did not
// start, whatever existed before is used as it is and never deleted.
func (d *driver) Setup(ctx context.Context) error {
	topo := &d.st.topo
	if !d.deleteOnClose {
		if err := d.withAdmin(ctx, topo.declare); err != nil {
			return fmt.Errorf("setting up rabbitmq: %w", err)
		}
		return nil
	}
	var newQ, newEx []string
	err := d.withAdmin(ctx, func(*amqp.Channel) error { return nil })
	if err != nil {
		return fmt.Errorf("setting up rabbitmq: %w", err)
	}
	for _, q := range topo.allQueues() {
		ok, err := d.exists(ctx, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
			return err
		})
		if err != nil {
			return fmt.Errorf("checking whether queue %s exists: %w", q, err)
		}
		if !ok {
			newQ = append(newQ, q)
		}
	}
	for _, e := range topo.exchanges() {
		ok, err := d.exists(ctx, func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(e, "", false, false, false, false, nil)
		})
		if err != nil {
			return fmt.Errorf("checking whether exchange %s exists: %w", e, err)
		}
		if !ok {
			newEx = append(newEx, e)
		}
	}
	d.mu.Lock()
	d.createdQ, d.createdEx = newQ, newEx
	d.mu.Unlock()
	if err := d.withAdmin(ctx, topo.declare); err != nil {
		return fmt.Errorf("setting up rabbitmq: %w", err)
	}
	return nil
}

// exists runs a passive declare: false on a 404.
func (d *driver) exists(ctx context.Context, passive func(ch *amqp.Channel) error) (bool, error) {
	err := d.withAdmin(ctx, passive)
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, err
}

func (d *driver) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	return d.newProducer(ctx, o)
}

func (d *driver) NewConsumer(_ context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	return d.newConsumer(o)
}

// Close deletes the queues and exchanges Setup created on a url target,
// unless the scenario keeps them, and closes the driver's connection. (A
// private node's whole data directory goes at Target.Close.)
func (d *driver) Close(ctx context.Context) error {
	var errs []error
	d.mu.Lock()
	qs, es := d.createdQ, d.createdEx
	d.createdQ, d.createdEx = nil, nil
	d.mu.Unlock()
	if !d.st.keep {
		for _, q := range qs {
			err := d.withAdmin(ctx, func(ch *amqp.Channel) error {
				_, err := ch.QueueDelete(q, false, false, false)
				return err
			})
			if err != nil && !notFound(err) {
				errs = append(errs, fmt.Errorf("deleting queue %s: %w", q, err))
			}
		}
		for _, e := range es {
			err := d.withAdmin(ctx, func(ch *amqp.Channel) error { return ch.ExchangeDelete(e, false, false) })
			if err != nil && !notFound(err) {
				errs = append(errs, fmt.Errorf("deleting exchange %s: %w", e, err))
			}
		}
	}
	d.adminMu.Lock()
	d.admin.shut()
	d.admin, d.adminCh = nil, nil
	d.adminMu.Unlock()
	return errors.Join(errs...)
}
