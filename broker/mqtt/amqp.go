package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

// Consumers over AMQP (consume_over: amqp, target rabbitmq): RabbitMQ's
// MQTT plugin publishes every MQTT message to the amq.topic exchange with
// the topic as routing key ('/' as '.'), the MQTT payload as the
// body. Each subscription is a durable queue bound there, which AMQP
// consumers share (point to point), acknowledging each delivery after the
// handler.

// amqpExchange is where the plugin publishes (its default mqtt.exchange).
const amqpExchange = "amq.topic"

// amqpPrefetch bounds the deliveries an AMQP consumer holds unacknowledged.
const amqpPrefetch = 100

// amqpDialWait bounds one AMQP connect and handshake.
const amqpDialWait = 5 * time.Second

// routingKey is the AMQP routing key of an MQTT topic or filter, as the
// plugin (rabbit_mqtt_util:mqtt2amqp) maps it: '/' becomes '.', and the
// single-level wildcard + is AMQP's *. A '.' within a level stays, and so
// splits the level in two for AMQP (both sides map alike, so bindings
// still match).
func routingKey(topic string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '.'
		case '+':
			return '*'
		}
		return r
	}, topic)
}

// amqpQueue is subscription sub's queue.
func (d *driver) amqpQueue(sub int) string { return d.prefix + "-s" + strconv.Itoa(sub) }

func (d *driver) dialAMQP() (*amqp.Connection, error) {
	conn, err := amqp.DialConfig(d.amqpURL, amqp.Config{Dial: amqp.DefaultDial(amqpDialWait), Locale: "en_US"})
	if err != nil {
		return nil, fmt.Errorf("connecting over AMQP to the node: %w", err)
	}
	return conn, nil
}

// setupAMQP declares each subscription's queue and binds it to what the
// MQTT consumers would subscribe to, so that what is published from now
// on is kept for the consumers.
func (d *driver) setupAMQP() error {
	conn, err := d.dialAMQP()
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("opening an AMQP channel: %w", err)
	}
	filter := d.spec.topic
	if d.c.Topics == "per-producer" {
		filter += "/+"
	}
	key := routingKey(filter)
	for sub := range max(d.spec.Subscriptions, 1) {
		q := d.amqpQueue(sub)
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declaring queue %s: %w", q, err)
		}
		if err := ch.QueueBind(q, key, amqpExchange, false, nil); err != nil {
			return fmt.Errorf("binding queue %s to %s with %s: %w", q, amqpExchange, key, err)
		}
	}
	return nil
}

// amqpConsumer reads one subscription's queue over AMQP.
type amqpConsumer struct {
	d     *driver
	opts  broker.ConsumerOptions
	queue string
	// tag ends each delivery's ordering domain: the consumers of a queue
	// split it, each seeing its share in order.
	tag string

	mu      sync.Mutex
	conn    *amqp.Connection
	stopped bool
}

var _ broker.Crasher = (*amqpConsumer)(nil)

func (d *driver) newAMQPConsumer(o broker.ConsumerOptions) (broker.Consumer, error) {
	c := &amqpConsumer{d: d, opts: o, queue: d.amqpQueue(o.Subscription)}
	c.tag = "@" + c.queue + "/c" + strconv.Itoa(o.ID)
	// Connect now, as the MQTT consumers do, so that a node that cannot
	// be reached fails the start.
	conn, err := d.dialAMQP()
	if err != nil {
		return nil, fmt.Errorf("starting consumer %d: %w", o.ID, err)
	}
	c.conn = conn
	return c, nil
}

// Run consumes the queue, reconnecting when the connection drops, until
// ctx ends or h fails.
func (c *amqpConsumer) Run(ctx context.Context, h broker.Handler) error {
	for failures := 0; ; {
		c.mu.Lock()
		conn, stopped := c.conn, c.stopped
		c.conn = nil
		c.mu.Unlock()
		if stopped {
			if conn != nil {
				conn.Close()
			}
			return nil
		}
		if conn == nil {
			var err error
			if conn, err = c.d.dialAMQP(); err != nil {
				if !redialFailed(ctx, &failures, c.opts, err) {
					return nil
				}
				continue
			}
			redialed(&failures, c.opts, "AMQP, queue "+c.queue)
		}
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			conn.Close()
			return nil
		}
		c.conn = conn
		c.mu.Unlock()
		err := c.consume(ctx, conn, h)
		c.mu.Lock()
		c.conn = nil
		stopped = c.stopped
		c.mu.Unlock()
		switch {
		case ctx.Err() != nil || stopped:
			return nil
		case err != nil:
			return err
		}
		c.notify("disconnected", fmt.Sprintf("consumer %d (AMQP, queue %s) lost its connection", c.opts.ID, c.queue))
		failures = 1
		if !sleep(ctx, backoff(0)) {
			return nil
		}
	}
}

// consume handles deliveries of one connection until it closes (nil) or
// the handler fails (its error; the connection is closed first, so the
// delivery goes back to the queue).
func (c *amqpConsumer) consume(ctx context.Context, conn *amqp.Connection, h broker.Handler) error {
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil // the connection went: reconnect
	}
	if err := ch.Qos(amqpPrefetch, 0, false); err != nil {
		return nil
	}
	ds, err := ch.ConsumeWithContext(ctx, c.queue, "", false, false, false, false, nil)
	if err != nil {
		if conn.IsClosed() || ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consumer %d: consuming queue %s: %w", c.opts.ID, c.queue, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ds:
			if !ok {
				return nil
			}
			dl := broker.Delivery{Payload: m.Body, Domain: m.RoutingKey + c.tag, Redelivered: m.Redelivered}
			herr := h(&dl)
			switch {
			case c.isStopped():
				// Crashed or closed: acknowledges nothing more.
				return nil
			case herr == nil:
				_ = m.Ack(false)
			case errors.Is(herr, broker.ErrReject):
				_ = m.Nack(false, true)
			case errors.Is(herr, broker.ErrDeadLetter):
				conn.Close()
				return fmt.Errorf("consumer %d: MQTT has no dead-letter queue: %w", c.opts.ID, herr)
			default:
				conn.Close()
				return herr
			}
		}
	}
}

func (c *amqpConsumer) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

func (c *amqpConsumer) notify(kind, detail string) { notify(c.opts, kind, detail) }

// Crash closes the connection without acknowledging anything more: what
// the consumer held goes back to the queue, flagged redelivered.
func (c *amqpConsumer) Crash() error { return c.Close() }

// Close closes the connection; unacknowledged deliveries go back to the
// queue.
func (c *amqpConsumer) Close() error {
	c.mu.Lock()
	c.stopped = true
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	return nil
}
