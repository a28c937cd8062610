package mqtt

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// link is one MQTT connection of either protocol version: paho.golang's
// MQTT 5 client (v5link) or paho.mqtt.golang's 3.1.1 client (v3link).
// Producers and consumers are written once against it.
type link interface {
	// done is closed once the connection is gone.
	done() <-chan struct{}
	// disconnect sends DISCONNECT and closes the connection.
	disconnect()
	// rawConn is the socket mqcheck dialled: closing it drops the
	// connection as a killed client would, without DISCONNECT.
	rawConn() net.Conn
	// sessionPresent is the CONNACK's: the broker kept a session.
	sessionPresent() bool
	// subscribe subscribes to filter at qos, and waits for the SUBACK;
	// a refusal wraps broker.ErrConfig.
	subscribe(ctx context.Context, filter string, qos byte) error
	// publish writes m (producers only). With inFlight its response
	// completes it through serve; otherwise it is complete with outcome.
	// err is ctx's when ctx ended before anything was written.
	publish(ctx context.Context, topic string, qos byte, retain bool, m *broker.Message) (s sent, err error)
	// serve calls complete for each publish as its response comes, until
	// the connection is gone; then for what is left, as indeterminate.
	serve(complete func(*broker.Message, broker.Outcome, error))
}

// sent is what became of one publish when publish returned.
type sent struct {
	inFlight bool
	outcome  broker.Outcome
	err      error
}

// inbound is a message delivered to a consumer.
type inbound struct {
	topic   string
	payload []byte
	dup     bool
}

// connectOptions are what differs between producers and consumers.
type connectOptions struct {
	clientID   string
	cleanStart bool
	expiry     uint32 // MQTT 5 only: 3.1.1 sessions last until the broker drops them
	// window > 0 makes a producer's connection: publishes up to window in
	// flight.
	window int
	// onMessage handles a delivery; the message is acknowledged when it
	// returns true (and the connection is still up).
	onMessage func(inbound) bool
	recvMax   int // MQTT 5 only
	// raw, when set, learns the socket before the client connects.
	raw func(net.Conn)
	// client: a producer's or consumer's connect, counted in the
	// driver's Connections (setup's, probes' and $SYS reads' are not).
	client bool
}

// dial connects one client with the configured protocol version.
func (d *driver) dial(ctx context.Context, o connectOptions) (link, error) {
	if err := d.pacer.wait(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	l, err := d.connect(ctx, o)
	if o.client && (err == nil || ctx.Err() == nil) {
		d.conns.Record(time.Since(start), err)
	}
	return l, err
}

func (d *driver) connect(ctx context.Context, o connectOptions) (link, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	raw, err := d.dialRaw(ctx)
	if err != nil {
		return nil, err
	}
	if o.raw != nil {
		o.raw(raw)
	}
	if d.c.Version == version311 {
		return d.dialV3(ctx, raw, o)
	}
	return d.dialV5(ctx, raw, o)
}

// Connections are the producers' and consumers' connects so far.
func (d *driver) Connections() broker.ConnectionStats { return d.conns.Stats() }

// dialRaw opens the socket (and TLS) a client connects over.
func (d *driver) dialRaw(ctx context.Context) (net.Conn, error) {
	if d.ep.dial != nil {
		return d.ep.dial(ctx)
	}
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
	return raw, nil
}
