package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// Timing of connections.
const (
	connectTimeout = 10 * time.Second
	// packetTimeout bounds what paho waits for a SUBACK or a DISCONNECT.
	packetTimeout  = 10 * time.Second
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = 2 * time.Second
)

// errNotConnected completes a publish made while the producer has no
// connection: nothing was written, so it cannot be delivered.
var errNotConnected = errors.New("the producer is not connected (reconnecting)")

// endpoint is how the driver reaches the broker.
type endpoint struct {
	addr     string // host:port
	tls      *tls.Config
	username string
	password string
	// dial, when set, connects in memory instead of to addr (the
	// embedded server without network faults).
	dial func(context.Context) (net.Conn, error)
}

// driver makes producers and consumers for one broker.
type driver struct {
	c      *Config
	spec   Spec
	ep     endpoint
	env    broker.Env
	prefix string
	// backlog, when set, counts what the broker holds for the run's
	// consumers (the embedded server's in-flight queues).
	backlog func(ctx context.Context) (int64, error)
	// gone, when set, waits until the broker has let client id's
	// connection go (the embedded server, which can be asked), and with
	// clean until it has dropped the session too.
	gone  func(ctx context.Context, id string, clean bool) error
	pacer *connectPacer
	// amqpURL is the RabbitMQ node's, for consumers over AMQP.
	amqpURL string
	// rabbit counts what a RabbitMQ node holds for MQTT consumers.
	rabbit *rabbitBacklog
	conns  broker.ConnectTimes
	// lastSend is when a producer last published (unix nanoseconds): the
	// message's send time as the swarm read it (its clock follows the wall
	// clock from the process start on the monotonic one, so it differs
	// from time.Now only if the wall clock is stepped during the run).
	lastSend atomic.Int64

	mu    sync.Mutex
	slots map[int][]bool // per subscription: session slots taken
}

// Spec is broker.Spec as the driver keeps it, with the topic derived.
type Spec struct {
	broker.Spec
	topic string
}

func newDriver(c *Config, spec broker.Spec, ep endpoint, env broker.Env) *driver {
	dest := spec.Destination
	if dest == "" {
		dest = "mqcheck-" + env.RunID
	}
	prefix := c.ClientIDPrefix
	if prefix == "" {
		prefix = "mqc-" + shortID(env.RunID)
	}
	return &driver{c: c, spec: Spec{Spec: spec, topic: dest}, ep: ep, env: env, prefix: prefix,
		pacer: newConnectPacer(c.ConnectRate), slots: map[int][]bool{}}
}

// shortID is 8 characters naming the run in client ids, within MQTT 3.1.1's
// 23.
func shortID(runID string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(runID); i++ {
		h = (h ^ uint32(runID[i])) * 16777619
	}
	return fmt.Sprintf("%08x", h)
}

var (
	_ broker.Driver             = (*driver)(nil)
	_ broker.Backlogger         = (*driver)(nil)
	_ broker.ConnectionReporter = (*driver)(nil)
)

// Setup creates the consumers' persistent sessions, each with its
// subscription, so that what is published before a consumer connects is
// kept for it: an MQTT broker keeps messages only for the subscriptions
// that exist when they are published. With clean_start there is no
// session to create, and what is published before a consumer subscribes
// is not delivered, as for every MQTT client.
func (d *driver) Setup(ctx context.Context) error {
	if d.c.ConsumeOver == consumeAMQP {
		return d.setupAMQP()
	}
	if d.c.CleanStart {
		return nil
	}
	expiry := uint32(d.c.SessionExpiry.D() / time.Second)
	// Slot 0 of each subscription only: a broker serves a shared
	// subscription's offline members too, and a slot no consumer takes
	// would keep its share for no one. The other slots' sessions start
	// with their consumers, before the load.
	for sub := range max(d.spec.Subscriptions, 1) {
		id := d.consumerID(sub, 0)
		if d.c.Version == version311 {
			// 3.1.1's clean session both drops the old session and keeps
			// none: a first connection clears what an earlier run with
			// this id left, the second makes the session.
			cn, err := d.dial(ctx, connectOptions{clientID: id, cleanStart: true})
			if err != nil {
				return fmt.Errorf("clearing the session of %s: %w", id, err)
			}
			cn.disconnect()
			// mochi drops a clean session after its connection closed,
			// by client id: were the next connection to take the
			// session over first, that drop would take the new
			// session with it (in CI: no session after Setup).
			if d.gone != nil {
				if err := d.gone(ctx, id, true); err != nil {
					return fmt.Errorf("clearing the session of %s: %w", id, err)
				}
			}
		}
		cn, err := d.dial(ctx, connectOptions{clientID: id, cleanStart: d.c.Version != version311, expiry: expiry})
		if err != nil {
			return fmt.Errorf("creating the session of %s: %w", id, err)
		}
		err = subscribe(ctx, cn, id, d.subscribeFilter(sub), d.c.subQoS(sub))
		cn.disconnect()
		if err != nil {
			return err
		}
		// A publish the broker routes to this connection while it
		// closes is written to it, and the consumer that takes the
		// session later gets it flagged DUP on its first delivery
		// (mochi, in CI): a false redelivery flag exempts it from the
		// ordering check. The load starts once the session is offline.
		if d.gone != nil {
			if err := d.gone(ctx, id, false); err != nil {
				return fmt.Errorf("creating the session of %s: %w", id, err)
			}
		}
	}
	return nil
}

// consumerID is the client id of session slot slot of subscription sub.
func (d *driver) consumerID(sub, slot int) string {
	return d.prefix + "-s" + strconv.Itoa(sub) + "c" + strconv.Itoa(slot)
}

// Close releases nothing: producers and consumers close their own
// connections.
func (d *driver) Close(context.Context) error { return nil }

// Backlog counts the QoS 1 and 2 messages the broker holds for the run's
// consumers, sent and unacknowledged or queued for an offline session.
func (d *driver) Backlog(ctx context.Context) (int64, error) {
	if d.backlog == nil {
		return 0, broker.CannotCount(errors.New("this target cannot count what the broker holds"))
	}
	return d.backlog(ctx)
}

// publishTopic is producer id's topic.
func (d *driver) publishTopic(id int) string {
	if d.c.Topics == "per-producer" {
		return d.spec.topic + "/p" + strconv.Itoa(id)
	}
	return d.spec.topic
}

// subscribeFilter is what consumers of subscription sub subscribe to: the
// topic, or with several consumers a shared subscription of one group
// per subscription, which the broker serves point to point.
func (d *driver) subscribeFilter(sub int) string {
	f := d.spec.topic
	if d.c.Topics == "per-producer" {
		f += "/+"
	}
	if d.spec.Consumers > 1 {
		return "$share/" + d.prefix + "-s" + strconv.Itoa(sub) + "/" + f
	}
	return f
}

// consumerPrefix is what every consumer client id of the run starts with,
// for the embedded server's backlog.
func (d *driver) consumerPrefix() string { return d.prefix + "-s" }

// takeSlot gives a new consumer of subscription sub the lowest session
// slot no live consumer holds: a consumer started after one crashed takes
// over its client id and so its session, as a restarted client does.
func (d *driver) takeSlot(sub int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.slots[sub]
	for i, taken := range s {
		if !taken {
			s[i] = true
			return i
		}
	}
	d.slots[sub] = append(s, true)
	return len(s)
}

func (d *driver) freeSlot(sub, slot int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.slots[sub]; slot < len(s) {
		s[slot] = false
	}
}

// connectPacer spaces connections out to a rate across the run.
type connectPacer struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newConnectPacer(rate int) *connectPacer {
	if rate <= 0 {
		return &connectPacer{}
	}
	return &connectPacer{every: time.Second / time.Duration(rate)}
}

func (p *connectPacer) wait(ctx context.Context) error {
	if p.every == 0 {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.every)
	p.mu.Unlock()
	if wait := time.Until(at); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// backoff is the pause before reconnect attempt n (from 0).
func backoff(n int) time.Duration {
	d := reconnectFirst << min(n, 5)
	return min(d, reconnectMax)
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var _ broker.ClaimScoper = (*driver)(nil)

// ClaimScopes narrows mqtt-qos0, -qos1 and -qos2 to the messages delivered
// at their level, when the run delivers at more than one (producer_qos,
// subscription_qos): QoS 1 promises at least once for the messages that
// travel at QoS 1, nothing for those at QoS 0.
func (d *driver) ClaimScopes(claims []string) map[string]broker.ClaimScope {
	at := d.c.deliveredLevels(d.spec.Producers, d.spec.Subscriptions)
	levels := 0
	for _, ps := range at {
		if len(ps) > 0 {
			levels++
		}
	}
	if levels < 2 {
		return nil
	}
	out := map[string]broker.ClaimScope{}
	for _, claim := range claims {
		n := slices.Index(claimsByQoS, claim)
		if n < 0 {
			continue
		}
		what := "delivered at QoS " + strconv.Itoa(n) + ": " + producerList(at[n], d.spec.Producers)
		if len(d.c.SubscriptionQoS) > 1 {
			what += ", in the subscriptions that take them at QoS " + strconv.Itoa(n)
		}
		out[claim] = broker.ClaimScope{What: what, In: func(sub, p int) bool { return d.c.DeliveredQoS(sub, p) == n }}
	}
	return out
}

// producerList names producers ps of all: "producers 1, 3 (2 of 4)", the
// first six and an ellipsis when there are more.
func producerList(ps []int, all int) string {
	var b strings.Builder
	b.WriteString("producer")
	if len(ps) != 1 {
		b.WriteString("s")
	}
	for i, p := range ps {
		switch {
		case i == 6:
			b.WriteString(", …")
		case i > 6:
			continue
		case i == 0:
			b.WriteString(" " + strconv.Itoa(p))
		default:
			b.WriteString(", " + strconv.Itoa(p))
		}
	}
	fmt.Fprintf(&b, " (%d of %d)", len(ps), all)
	return b.String()
}
