package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// consumer is one subscriber client. Its client id names a session slot of
// its subscription (see takeSlot); with a persistent session the broker
// keeps its subscription and unacknowledged messages while it is away,
// and resends them flagged DUP when the id connects again.
type consumer struct {
	d      *driver
	opts   broker.ConsumerOptions
	slot   int
	id     string
	filter string

	domains sync.Map // topic → domain string, reused

	// ready is closed when Run has set h: deliveries of the connection
	// NewConsumer made wait for it.
	ready chan struct{}
	h     broker.Handler
	first *attempt

	mu      sync.Mutex
	cur     link
	stopped bool // crashed or closed: no more handling, no more acks
	stopCh  chan struct{}
	freed   bool
}

func (d *driver) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	if d.c.ConsumeOver == consumeAMQP {
		return d.newAMQPConsumer(o)
	}
	slot := d.takeSlot(o.Subscription)
	c := &consumer{d: d, opts: o, slot: slot, filter: d.subscribeFilter(o.Subscription),
		id: d.consumerID(o.Subscription, slot), ready: make(chan struct{})}
	// Connect and subscribe now, so that the consumer is subscribed (and
	// has taken its session over) before the load starts; deliveries wait
	// for Run's handler.
	a, err := c.connect(ctx, false)
	if err != nil {
		c.free()
		return nil, fmt.Errorf("starting consumer %d: %w", o.ID, err)
	}
	c.first = a
	return c, nil
}

// attempt is one connection of a consumer and what its handler learned.
type attempt struct {
	cn   link
	raw  net.Conn // known before paho's first delivery
	mu   sync.Mutex
	fail error // the handler's error, which ended the connection
}

func (a *attempt) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fail
}

// connect makes one connection with its subscription. With resubscribe it
// subscribes even when the broker says it kept the session: Run's
// reconnections do, where the handler is ready for what is resent before
// the SUBACK.
func (c *consumer) connect(ctx context.Context, resubscribe bool) (*attempt, error) {
	a := &attempt{}
	onMessage := func(in inbound) bool {
		if rb := c.d.rabbit; rb != nil && rb.probed(in) {
			return true
		}
		select {
		case <-c.ready:
		case <-c.gone():
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.fail != nil || c.isStopped() {
			// Handled nothing, acknowledges nothing.
			return false
		}
		dl := broker.Delivery{Payload: in.payload, Domain: c.domain(in.topic), Redelivered: in.dup}
		if err := c.h(&dl); err != nil {
			a.fail = err
			// Close the socket before any acknowledgment (MQTT 5's paho
			// acknowledges when the handler returns): the broker keeps
			// the message.
			a.raw.Close()
			return false
		}
		return true
	}
	cn, err := c.d.dial(ctx, connectOptions{clientID: c.id, cleanStart: c.d.c.CleanStart, expiry: uint32(c.d.c.SessionExpiry.D() / time.Second),
		onMessage: onMessage, recvMax: c.d.c.ReceiveMaximum, raw: func(r net.Conn) { a.raw = r }, client: true})
	if err != nil {
		return nil, err
	}
	a.cn = cn
	if rb := c.d.rabbit; rb != nil {
		rb.attached()
	}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		cn.rawConn().Close()
		<-cn.done()
		return nil, errors.New("consumer stopped")
	}
	c.cur = cn
	c.mu.Unlock()
	if cn.sessionPresent() && !(resubscribe && c.d.resubscribes()) {
		// The session kept its subscription. (Subscribing again on the
		// first connection would wait for a SUBACK behind the resent
		// messages, which wait for Run's handler.)
		return a, nil
	}
	if err := subscribe(ctx, cn, c.id, c.filter, c.d.c.subQoS(c.opts.Subscription)); err != nil {
		cn.rawConn().Close()
		<-cn.done()
		if f := a.failed(); f != nil {
			// The handler failed on a message resent before the
			// SUBACK, closing the connection under Subscribe.
			return a, nil
		}
		return nil, err
	}
	return a, nil
}

// resubscribes says a reconnection subscribes again even when the broker
// says it kept the session. A broker that restarted under load answered
// "session present" and then delivered nothing for minutes (RabbitMQ's
// MQTT plugin, CI); subscribing to the same filter again only replaces
// the subscription [MQTT-3.8.4-3]. Except in 3.1.1 with retain: its
// broker resends the topic's retained message to a replaced subscription
// [MQTT-3.8.4-3], a delivery the run would count as a duplicate the
// broker did not make (MQTT 5's retain handling 1 sends it only to a new
// one).
func (d *driver) resubscribes() bool { return !(d.c.Retain && d.c.Version == version311) }

// gone is closed once the consumer is stopped.
func (c *consumer) gone() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopCh == nil {
		c.stopCh = make(chan struct{})
		if c.stopped {
			close(c.stopCh)
		}
	}
	return c.stopCh
}

// Run hands deliveries to h, reconnecting when the connection drops,
// until ctx ends or h fails.
func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	c.h = h
	close(c.ready)
	a := c.first
	c.first = nil
	for failures := 0; ; {
		if a == nil {
			var err error
			a, err = c.connect(ctx, true)
			if err != nil {
				if ctx.Err() != nil || c.isStopped() {
					return nil
				}
				if !redialFailed(ctx, &failures, c.opts, err) {
					return nil
				}
				continue
			}
			redialed(&failures, c.opts, c.id)
		}
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.cur = nil
			c.mu.Unlock()
			a.cn.disconnect()
			return nil
		case <-a.cn.done():
		}
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
		f := a.failed()
		a = nil
		switch {
		case c.isStopped():
			return nil
		case errors.Is(f, broker.ErrReject):
			continue // reconnect at once: the broker resends it
		case f != nil:
			return c.handlerFailed(f)
		}
		c.notify("disconnected", fmt.Sprintf("consumer %d (%s) lost its connection", c.opts.ID, c.id))
		failures = 1
		if !sleep(ctx, backoff(0)) {
			return nil
		}
	}
}

// subscribe subscribes client id to filter at qos.
func subscribe(ctx context.Context, cn link, id, filter string, qos int) error {
	if err := cn.subscribe(ctx, filter, byte(qos)); err != nil {
		return fmt.Errorf("subscribing %s to %s: %w", id, filter, err)
	}
	return nil
}

// domain is the ordering domain of a delivery: its topic as this consumer
// sees it (a shared subscription splits a topic between consumers).
func (c *consumer) domain(topic string) string {
	if v, ok := c.domains.Load(topic); ok {
		return v.(string)
	}
	s := topic + "@" + c.id
	c.domains.Store(topic, s)
	return s
}

// handlerFailed is Run's error when the handler failed.
func (c *consumer) handlerFailed(f error) error {
	if errors.Is(f, broker.ErrDeadLetter) {
		return fmt.Errorf("consumer %d: MQTT has no dead-letter queue: %w", c.opts.ID, f)
	}
	return f
}

func (c *consumer) notify(kind, detail string) { notify(c.opts, kind, detail) }

func (c *consumer) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// dropRaw closes the current connection's socket without a DISCONNECT.
func (c *consumer) dropRaw() {
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn != nil {
		cn.rawConn().Close()
	}
}

// Crash drops the connection as a killed client would: no DISCONNECT, no
// further acknowledgment. The session keeps what was unacknowledged.
func (c *consumer) Crash() error {
	c.stop()
	c.dropRaw()
	c.free()
	return nil
}

// Close disconnects cleanly; a persistent session keeps what was
// unacknowledged for the next consumer in its slot.
func (c *consumer) Close() error {
	c.stop()
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn != nil {
		cn.disconnect()
	}
	c.free()
	return nil
}

func (c *consumer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.stopped = true
		if c.stopCh != nil {
			close(c.stopCh)
		}
	}
}

func (c *consumer) free() {
	c.mu.Lock()
	freed := c.freed
	c.freed = true
	c.mu.Unlock()
	if !freed {
		c.d.freeSlot(c.opts.Subscription, c.slot)
	}
}

// redialFailed counts a failed reconnect of consumer o, says so at the
// tenth in a row, and waits the backoff; false when ctx ended meanwhile.
func redialFailed(ctx context.Context, failures *int, o broker.ConsumerOptions, err error) bool {
	*failures++
	if *failures == 10 {
		notify(o, "reconnect-failing", fmt.Sprintf("consumer %d: %v", o.ID, err))
	}
	return sleep(ctx, backoff(*failures))
}

// redialed notes a successful connect of consumer o (named by what), a
// reconnect when it follows failures.
func redialed(failures *int, o broker.ConsumerOptions, what string) {
	if *failures > 0 {
		notify(o, "reconnected", fmt.Sprintf("consumer %d (%s)", o.ID, what))
	}
	*failures = 0
}

func notify(o broker.ConsumerOptions, kind, detail string) {
	if o.Notify != nil {
		o.Notify(broker.Notice{Kind: kind, Detail: detail, At: time.Now()})
	}
}
