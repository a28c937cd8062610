package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"

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
	pacer   *connectPacer
	// lastSend is when a producer last published (unix nanoseconds).
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
	_ broker.Driver     = (*driver)(nil)
	_ broker.Backlogger = (*driver)(nil)
)

// Setup creates the consumers' persistent sessions, each with its
// subscription, so that what is published before a consumer connects is
// kept for it: an MQTT broker keeps messages only for the subscriptions
// that exist when they are published. With clean_start there is no
// session to create, and what is published before a consumer subscribes
// is not delivered, as for every MQTT client.
func (d *driver) Setup(ctx context.Context) error {
	if d.c.CleanStart {
		return nil
	}
	expiry := uint32(d.c.SessionExpiry.D() / time.Second)
	// Slot 0 of each subscription only: a broker serves a shared
	// subscription's offline members too, and a slot no consumer takes
	// would keep its share for no one. The other slots' sessions start
	// with their consumers, before the load.
	for sub := range max(d.spec.Subscriptions, 1) {
		{
			id := d.consumerID(sub, 0)
			cn, err := d.dial(ctx, connectOptions{clientID: id, cleanStart: true, expiry: expiry})
			if err != nil {
				return fmt.Errorf("creating the session of %s: %w", id, err)
			}
			err = subscribe(ctx, cn, id, d.subscribeFilter(sub), d.c.subQoS())
			_ = cn.client.Disconnect(&paho.Disconnect{})
			<-cn.client.Done()
			if err != nil {
				return err
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
		return 0, errors.New("this target cannot count what the broker holds")
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

// conn is one MQTT connection: a paho client over a net.Conn mqcheck
// dialled (so that a crash can drop it as a killed client would).
type conn struct {
	client  *paho.Client
	raw     net.Conn
	connack *paho.Connack
}

// connectOptions are what differs between producers and consumers.
type connectOptions struct {
	clientID   string
	cleanStart bool
	expiry     uint32
	session    *session
	onPublish  func(paho.PublishReceived) (bool, error)
	recvMax    int
	// raw, when set, learns the socket before the client connects.
	raw func(net.Conn)
}

// dial connects one client.
func (d *driver) dial(ctx context.Context, o connectOptions) (*conn, error) {
	if err := d.pacer.wait(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	raw, err := d.env.DialContext(ctx, "tcp", d.ep.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dialling %s: %w", broker.ErrUnreachable, d.ep.addr, err)
	}
	if d.ep.tls != nil {
		cfg := d.ep.tls.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(d.ep.addr)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", d.ep.addr, err)
		}
		raw = tc
	}
	if o.raw != nil {
		o.raw(raw)
	}
	cfg := paho.ClientConfig{ClientID: o.clientID, Conn: packets.NewThreadSafeConn(raw), PacketTimeout: packetTimeout}
	if o.session != nil {
		cfg.Session = o.session
	} else {
		cfg.Session = state.NewInMemory()
	}
	if o.onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){o.onPublish}
	}
	client := paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: o.clientID, CleanStart: o.cleanStart, KeepAlive: uint16(d.c.KeepAlive.D() / time.Second),
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}}
	if o.recvMax > 0 {
		rm := uint16(o.recvMax)
		cp.Properties.ReceiveMaximum = &rm
	}
	if d.ep.username != "" {
		cp.Username, cp.UsernameFlag = d.ep.username, true
	}
	if d.ep.password != "" {
		cp.Password, cp.PasswordFlag = []byte(d.ep.password), true
	}
	ca, err := client.Connect(ctx, cp)
	if err != nil {
		raw.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			return nil, fmt.Errorf("the broker at %s refused client %s: %s (reason %#x)", d.ep.addr, o.clientID, ca.Properties.ReasonString, ca.ReasonCode)
		}
		return nil, fmt.Errorf("connecting client %s to %s: %w", o.clientID, d.ep.addr, err)
	}
	return &conn{client: client, raw: raw, connack: ca}, nil
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
