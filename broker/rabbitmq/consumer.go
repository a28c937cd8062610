package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

// consumer is one member of its subscription: it consumes the subscription's
// queue, competing with the subscription's other consumers, and with
// dead_letter also the subscription's dead-letter queue, on one connection
// and channel of its own.
//
// Acknowledgement (manual mode) follows the handler: nil acks, ErrReject
// nacks with requeue (the broker redelivers it, flagged), ErrDeadLetter nacks
// without requeue (the broker dead-letters it, or drops it without a
// dead-letter exchange). In auto mode the broker forgets a message once it
// has sent it: what the consumer had taken and not handled when it dies is
// lost, which is what at-most-once allows.
//
// Deliveries from the dead-letter queue reach the handler with DeadLettered
// set and the first x-death reason, and are acked whatever ack_mode says.
type consumer struct {
	d        *driver
	id       int
	sub      int
	main     *queueState
	dead     *queueState // nil without dead-lettering
	autoAck  bool
	prefetch int
	stream   bool
	// Reused strings: the ordering domain is a queue as one consumer sees it.
	domain, deadDomain string

	dv   broker.Delivery // reused for every delivery
	link link            // Run's goroutine only
	// next stream offset to read from after a reconnect; -1: the start.
	offset int64

	cur atomic.Pointer[conn] // the live connection, for Close and tests

	guard broker.RunGuard
}

var _ broker.Crasher = (*consumer)(nil)

// probeType marks Backlog's probe messages; consumers swallow them.
const probeType = "mqcheck-probe"

func (d *driver) newConsumer(o broker.ConsumerOptions) (*consumer, error) {
	if o.Subscription < 0 || o.Subscription >= len(d.main) {
		return nil, fmt.Errorf("creating rabbitmq consumer %d: subscription %d, but the run declared %d queues", o.ID, o.Subscription, len(d.main))
	}
	r := &d.st.r
	c := &consumer{
		d:        d,
		id:       o.ID,
		sub:      o.Subscription,
		main:     d.main[o.Subscription],
		dead:     d.dead[o.Subscription],
		autoAck:  r.AckMode == "auto",
		prefetch: *r.Prefetch,
		stream:   r.QueueType == "stream",
		offset:   -1,
		link:     link{who: fmt.Sprintf("consumer %d of subscription %d", o.ID, o.Subscription), notify: o.Notify},
	}
	c.domain = c.main.name + "@consumer-" + strconv.Itoa(o.ID)
	if c.dead != nil {
		c.deadDomain = c.dead.name + "@consumer-" + strconv.Itoa(o.ID)
	}
	d.consumers[o.Subscription].Add(1)
	return c, nil
}

// subSession is one connection's worth of consuming.
type subSession struct {
	c    *conn
	ch   *amqp.Channel
	main <-chan amqp.Delivery
	dead <-chan amqp.Delivery // nil without dead-lettering
}

func (c *consumer) open(ctx context.Context) (*subSession, error) {
	st := c.d.st
	cn, err := st.connect(ctx, fmt.Sprintf("mqcheck-%s-s%d-c%d", st.runID, c.sub, c.id))
	if err != nil {
		return nil, err
	}
	s := &subSession{c: cn}
	err = cn.guard(ctx, func() error {
		ch, err := cn.Channel()
		if err != nil {
			return fmt.Errorf("opening a channel: %w", err)
		}
		s.ch = ch
		if err := st.topo.declare(ch); err != nil {
			return err
		}
		if !c.autoAck || c.dead != nil {
			// Per consumer (global=false), so the dead-letter consumer
			// gets a window of its own.
			if err := ch.Qos(c.prefetch, 0, false); err != nil {
				return fmt.Errorf("setting prefetch %d: %w", c.prefetch, err)
			}
		}
		var args amqp.Table
		if c.stream {
			args = amqp.Table{"x-stream-offset": "first"}
			if c.offset >= 0 {
				args["x-stream-offset"] = c.offset
			}
		}
		tag := fmt.Sprintf("mqcheck-c%d", c.id)
		if s.main, err = ch.Consume(c.main.name, tag, c.autoAck, false, false, false, args); err != nil {
			return fmt.Errorf("consuming from %s: %w", c.main.name, err)
		}
		if c.dead != nil {
			if s.dead, err = ch.Consume(c.dead.name, tag+"-dlq", false, false, false, false, nil); err != nil {
				return fmt.Errorf("consuming from %s: %w", c.dead.name, err)
			}
		}
		return nil
	})
	if err != nil {
		cn.shut()
		return nil, err
	}
	return s, nil
}

// Run consumes until ctx ends or Close is called, reconnecting with backoff
// whenever the connection is lost. It gives up on errors no reconnect can
// fix (refused credentials, a queue declared elsewhere with other
// arguments) and on handler errors other than ErrReject and ErrDeadLetter.
func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	ctx, end, err := c.guard.Begin(ctx)
	if err != nil {
		return fmt.Errorf("running rabbitmq consumer %d: %w", c.id, err)
	}
	defer end()

	for attempt := 0; ; attempt++ {
		if attempt > 0 && !sleep(c.d.st.backoff(attempt), ctx.Done()) {
			return nil
		}
		s, err := c.open(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if permanent(err) {
				return fmt.Errorf("rabbitmq consumer %d: %w", c.id, err)
			}
			// A lost session is news ("disconnected", below); one failed
			// attempt is not, a run of them is (a warning).
			if c.d.st.log != nil {
				c.d.st.log.Debug("rabbitmq consumer reconnect failed", "consumer", c.id, "attempt", attempt+1, "err", err)
			}
			c.link.failed(err)
			continue
		}
		attempt = 0
		c.link.back()
		c.cur.Store(s.c)
		c.d.attach(c.main, 1)
		c.d.attach(c.dead, 1)
		reason, herr := c.serve(ctx, s, h)
		c.d.attach(c.main, -1)
		c.d.attach(c.dead, -1)
		c.cur.Store(nil)
		if ctx.Err() != nil {
			// The run is stopping: no one waits for the broker's answer.
			s.c.shutWithin(stopCloseWait)
		} else {
			s.c.shut()
		}
		if herr != nil {
			return herr
		}
		if ctx.Err() != nil {
			return nil
		}
		if reason == nil {
			reason = errors.New("channel closed")
		}
		c.link.lost(reason)
	}
}

// serve hands s's deliveries to h until ctx ends or the session dies. It
// returns why the session died, or the handler's error.
func (c *consumer) serve(ctx context.Context, s *subSession, h broker.Handler) (reason, herr error) {
	closed := s.ch.NotifyClose(make(chan *amqp.Error, 1))
	main, dead := s.main, s.dead
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil, nil
		case dl, ok := <-main:
			if !ok {
				return closeReason(closed), nil
			}
			err = c.deliver(s, &dl, h)
		case dl, ok := <-dead:
			if !ok {
				return closeReason(closed), nil
			}
			err = c.deliverDead(s, &dl, h)
		}
		if err != nil {
			return nil, err
		}
	}
}

// deliver handles one delivery of the subscription's queue.
func (c *consumer) deliver(s *subSession, dl *amqp.Delivery, h broker.Handler) error {
	if dl.Type == probeType {
		c.probe(c.main, dl.MessageId)
		if !c.autoAck {
			_ = s.ch.Ack(dl.DeliveryTag, false)
		}
		return nil
	}
	c.dv = broker.Delivery{Payload: dl.Body, Domain: c.domain, Redelivered: dl.Redelivered}
	err := h(&c.dv)
	c.dv.Payload = nil
	if c.stream {
		if off, ok := dl.Headers["x-stream-offset"].(int64); ok {
			c.offset = off + 1
		}
	}
	if c.autoAck {
		switch {
		case err == nil:
			return nil
		case errors.Is(err, broker.ErrReject), errors.Is(err, broker.ErrDeadLetter):
			return fmt.Errorf("rabbitmq consumer %d: %s: an auto-ack consumer cannot reject a message", c.id, c.domain)
		}
		return fmt.Errorf("rabbitmq consumer %d handling a delivery from %s: %w", c.id, c.main.name, err)
	}
	return c.settle(s, dl.DeliveryTag, c.main.name, err)
}

// deliverDead handles one delivery of the subscription's dead-letter queue.
func (c *consumer) deliverDead(s *subSession, dl *amqp.Delivery, h broker.Handler) error {
	if dl.Type == probeType {
		c.probe(c.dead, dl.MessageId)
		_ = s.ch.Ack(dl.DeliveryTag, false)
		return nil
	}
	c.dv = broker.Delivery{Payload: dl.Body, Domain: c.deadDomain, Redelivered: dl.Redelivered,
		DeadLettered: true, Reason: deathReason(dl.Headers)}
	err := h(&c.dv)
	c.dv.Payload = nil
	if errors.Is(err, broker.ErrDeadLetter) {
		// Dead-lettering it again would only loop it back here.
		err = broker.ErrReject
	}
	return c.settle(s, dl.DeliveryTag, c.dead.name, err)
}

// settle acks or nacks a delivery after the handler. An ack that cannot be
// sent (the connection is going) is not an error: the broker redelivers the
// message, flagged, after the reconnect.
func (c *consumer) settle(s *subSession, tag uint64, queue string, err error) error {
	switch {
	case err == nil:
		_ = s.ch.Ack(tag, false)
	case errors.Is(err, broker.ErrReject):
		_ = s.ch.Nack(tag, false, true)
	case errors.Is(err, broker.ErrDeadLetter):
		_ = s.ch.Nack(tag, false, false)
	default:
		// Not acknowledged: Run closes the connection, which gives it back.
		return fmt.Errorf("rabbitmq consumer %d handling a delivery from %s: %w", c.id, queue, err)
	}
	return nil
}

// probe records a probe of q seen. A probe that came from another queue (a
// main queue's probe expired into the dead-letter queue) proves nothing.
func (c *consumer) probe(q *queueState, id string) {
	idx, n, ok := parseProbe(id)
	if !ok || idx != q.idx {
		return
	}
	for {
		seen := q.seen.Load()
		if n <= seen || q.seen.CompareAndSwap(seen, n) {
			return
		}
	}
}

// Crash stops the consumer as a killed client would: the connection drops
// without a word, so nothing more is acknowledged and the broker requeues,
// flagged redelivered, whatever was not (with auto-ack: nothing, it is lost).
func (c *consumer) Crash() error {
	c.cur.Load().crash()
	return c.Close()
}

// Close stops Run and closes the connection: deliveries not yet acked go
// back to the queue (with auto-ack there are none: they are lost).
func (c *consumer) Close() error {
	if !c.guard.Close() {
		return nil
	}
	c.d.consumers[c.sub].Add(-1)
	c.d.epoch.Add(1)
	return nil
}
