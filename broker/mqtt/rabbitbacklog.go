package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQ's MQTT plugin (3.10) keeps each session's subscriptions in a
// queue of its own, mqtt-subscription-<client id>qos<0 or 1> (QoS 2
// subscriptions are served at QoS 1), durable for a persistent session,
// and consumes it for the session's connection with a prefetch of 10.
// The queues are ordinary RabbitMQ queues: the driver counts what they
// hold over AMQP, which the node also speaks.

// rabbitQueuePrefix begins every session queue's name.
const rabbitQueuePrefix = "mqtt-subscription-"

// rabbitSettle: after a consumer (re)connects, the backlog stays unknown
// this long. A connection the node has not yet noticed dead can hold
// deliveries it will put back in the queue.
const rabbitSettle = 3 * time.Second

// rabbitProbeWait bounds the wait for a probe to come through a queue.
const rabbitProbeWait = 5 * time.Second

// rabbitBacklog proves what the plugin's session queues hold. A positive
// answer is the queues' ready messages. A 0 must be proven, for the drain
// calls what is missing lost once the backlog has said 0 for a while:
// the ready counts do not include what the node delivered and the
// consumer has not acknowledged (the plugin's prefetch), so a probe goes
// to the tail of each queue (AMQP's default exchange, routed by the
// queue's name: the plugin hands it to the session with the queue's name
// as its topic), and the answer is 0 only once every consumer received
// its probe, with each queue consumed by exactly one connection and no
// consumer (re)connected within rabbitSettle. Else the backlog is
// unknown (an error). Deliveries a consumer has received and not yet
// handled are not counted: they are handled within milliseconds.
type rabbitBacklog struct {
	d *driver
	// lastAttach is when a consumer last connected (unix nanoseconds).
	lastAttach atomic.Int64
	n          atomic.Uint64 // probes sent, for unique bodies

	mu   sync.Mutex
	seen map[string]bool // probe bodies received
}

func newRabbitBacklog(d *driver) *rabbitBacklog {
	return &rabbitBacklog{d: d, seen: map[string]bool{}}
}

// queue is the session queue of subscription sub's consumer.
func (b *rabbitBacklog) queue(sub int) string {
	q := "1"
	if b.d.c.subQoS(sub) == 0 {
		q = "0"
	}
	return rabbitQueuePrefix + b.d.consumerID(sub, 0) + "qos" + q
}

// attached notes a consumer's connect.
func (b *rabbitBacklog) attached() { b.lastAttach.Store(time.Now().UnixNano()) }

// probed reports whether a delivery is a probe, noting it: a probe is no
// message of the run, and is acknowledged without the handler.
func (b *rabbitBacklog) probed(in inbound) bool {
	if !strings.HasPrefix(in.topic, rabbitQueuePrefix) {
		return false
	}
	b.mu.Lock()
	b.seen[string(in.payload)] = true
	b.mu.Unlock()
	return true
}

func (b *rabbitBacklog) count(ctx context.Context) (int64, error) {
	if since := time.Since(time.Unix(0, b.lastAttach.Load())); since < rabbitSettle {
		return -1, fmt.Errorf("a consumer connected %s ago: what the node holds is not trusted for %s", since.Round(time.Millisecond), rabbitSettle)
	}
	epoch := b.lastAttach.Load()
	conn, err := b.d.dialAMQP()
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	var ready int64
	var probes []string
	for sub := range max(b.d.spec.Subscriptions, 1) {
		// A failed passive declare closes the channel: one each.
		ch, err := conn.Channel()
		if err != nil {
			return -1, fmt.Errorf("opening an AMQP channel: %w", err)
		}
		q := b.queue(sub)
		info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			return -1, fmt.Errorf("inspecting the session queue %s: %w", q, err)
		}
		if info.Consumers != 1 {
			return -1, fmt.Errorf("the session queue %s has %d consumers, not its session's one connection", q, info.Consumers)
		}
		ready += int64(info.Messages)
		if ready > 0 {
			continue
		}
		body := "mqcheck-probe-" + strconv.FormatUint(b.n.Add(1), 10)
		if err := ch.PublishWithContext(ctx, "", q, true, false, amqp.Publishing{Body: []byte(body)}); err != nil {
			return -1, fmt.Errorf("probing the session queue %s: %w", q, err)
		}
		probes = append(probes, body)
		_ = ch.Close()
	}
	if ready > 0 {
		return ready, nil
	}
	for deadline := time.Now().Add(rabbitProbeWait); !b.received(probes); {
		if time.Now().After(deadline) {
			return -1, errors.New("a probe did not come through its session queue: something ahead of it is still undelivered")
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return -1, ctx.Err()
		}
	}
	if b.lastAttach.Load() != epoch {
		return -1, errors.New("a consumer connected while the backlog was counted")
	}
	return 0, nil
}

// received reports whether every probe came, forgetting them if so.
func (b *rabbitBacklog) received(probes []string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range probes {
		if !b.seen[p] {
			return false
		}
	}
	for _, p := range probes {
		delete(b.seen, p)
	}
	return true
}
