package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqcheck/mqcheck/broker"
)

// version311 is the Config.Version of MQTT 3.1.1 (paho.mqtt.golang).
const version311 = "3.1.1"

// v3link is an MQTT 3.1.1 connection: a paho.mqtt.golang client over a
// socket mqcheck dialled, reconnecting never (mqcheck's producers and
// consumers reconnect themselves, with a new client, as a restarted
// device does).
type v3link struct {
	client  pahov3.Client
	raw     net.Conn
	present bool

	gone     chan struct{}
	goneOnce sync.Once

	// queue holds a producer's publishes in flight, oldest first, with
	// their tokens; serve completes them in order.
	mu     sync.Mutex
	queue  []v3pending
	more   chan struct{} // a token when queue grew
	served bool          // serve returned: publish completes on its own
}

type v3pending struct {
	m   *broker.Message
	tok pahov3.Token
}

var _ link = (*v3link)(nil)

// settleTimeout bounds how long serve waits, once the connection is gone,
// for paho to complete the tokens it still holds.
const settleTimeout = packetTimeout

func (d *driver) dialV3(ctx context.Context, raw net.Conn, o connectOptions) (link, error) {
	l := &v3link{raw: raw, gone: make(chan struct{}), more: make(chan struct{}, 1)}
	used := false
	opts := pahov3.NewClientOptions().
		AddBroker("tcp://" + d.ep.addr).
		SetProtocolVersion(4).
		SetClientID(o.clientID).
		SetCleanSession(o.cleanStart).
		SetKeepAlive(d.c.KeepAlive.D()).
		SetPingTimeout(packetTimeout).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(packetTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetCustomOpenConnectionFn(func(*url.URL, pahov3.ClientOptions) (net.Conn, error) {
			// One socket per client: the next connection is a new client.
			if used {
				return nil, errors.New("reconnecting is mqcheck's, with a new client")
			}
			used = true
			return dropConn{raw}, nil
		}).
		SetConnectionLostHandler(func(pahov3.Client, error) { l.close() })
	if d.ep.username != "" {
		opts.SetUsername(d.ep.username)
	}
	if d.ep.password != "" {
		opts.SetPassword(d.ep.password)
	}
	if o.onMessage != nil {
		opts.SetDefaultPublishHandler(func(_ pahov3.Client, msg pahov3.Message) {
			// Acknowledged (PUBACK, or PUBREC at QoS 2) only after the
			// handler, and not when it refused the message.
			if o.onMessage(inbound{topic: msg.Topic(), payload: msg.Payload(), dup: msg.Duplicate()}) {
				msg.Ack()
			}
		})
	}
	l.client = pahov3.NewClient(opts)
	tok := l.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		raw.Close()
		l.client.Disconnect(0)
		return nil, fmt.Errorf("connecting client %s to %s: %w", o.clientID, d.ep.addr, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		raw.Close()
		var rc byte
		if ct, ok := tok.(*pahov3.ConnectToken); ok {
			rc = ct.ReturnCode()
		}
		if rc != 0 {
			return nil, fmt.Errorf("the broker at %s refused client %s: %w (return code %d)", d.ep.addr, o.clientID, err, rc)
		}
		return nil, fmt.Errorf("connecting client %s to %s: %w", o.clientID, d.ep.addr, err)
	}
	l.present = tok.(*pahov3.ConnectToken).SessionPresent()
	return l, nil
}

// dropConn is the socket as paho.mqtt.golang reads it. paho takes a read
// that fails with "use of closed network connection" for its own
// disconnect and ignores it, so a socket mqcheck closed (a crash, a
// refused delivery) would go unnoticed until the keep-alive ran out; the
// read fails with errDropped instead.
type dropConn struct{ net.Conn }

var errDropped = errors.New("connection dropped by mqcheck")

func (c dropConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if errors.Is(err, net.ErrClosed) {
		err = errDropped
	}
	return n, err
}

func (l *v3link) close() { l.goneOnce.Do(func() { close(l.gone) }) }

func (l *v3link) done() <-chan struct{} { return l.gone }
func (l *v3link) rawConn() net.Conn     { return l.raw }
func (l *v3link) sessionPresent() bool  { return l.present }

// disconnect sends DISCONNECT and waits at most 250 ms for it to go.
func (l *v3link) disconnect() {
	l.client.Disconnect(250)
	l.raw.Close()
	l.close()
}

func (l *v3link) subscribe(ctx context.Context, filter string, qos byte) error {
	tok := l.client.Subscribe(filter, qos, nil)
	t := time.NewTimer(packetTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no SUBACK within %s", packetTimeout)
	}
	if err := tok.Error(); err != nil {
		return err
	}
	// 3.1.1's SUBACK has one return code per filter, 0x80 a refusal.
	if rc, ok := tok.(*pahov3.SubscribeToken).Result()[filter]; !ok || rc >= 0x80 {
		return fmt.Errorf("%w: the broker refused it (return code %#x)", broker.ErrConfig, rc)
	}
	return nil
}

func (l *v3link) publish(ctx context.Context, topic string, qos byte, retain bool, m *broker.Message) (sent, error) {
	tok := l.client.Publish(topic, qos, retain, m.Payload)
	if qos == 0 {
		// Complete once written (paho completes a QoS 0 token then).
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return sent{outcome: broker.Indeterminate, err: ctx.Err()}, nil
		case <-l.gone:
			return sent{outcome: broker.Indeterminate, err: errors.New("the connection closed while writing")}, nil
		}
		if err := tok.Error(); err != nil {
			return sent{outcome: failedOrUnknown(err), err: err}, nil
		}
		return sent{outcome: broker.Acked}, nil
	}
	l.mu.Lock()
	if l.served {
		l.mu.Unlock()
		return sent{outcome: broker.Indeterminate, err: errors.New("the connection closed before the broker answered")}, nil
	}
	l.queue = append(l.queue, v3pending{m, tok})
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
	return sent{inFlight: true}, nil
}

// failedOrUnknown is the outcome of a publish paho completed with err:
// failed when paho wrote nothing (not connected), indeterminate otherwise
// (the connection may have gone after the write).
func failedOrUnknown(err error) broker.Outcome {
	if errors.Is(err, pahov3.ErrNotConnected) {
		return broker.Failed
	}
	return broker.Indeterminate
}

// serve completes the publishes in order as paho completes their tokens:
// a PUBACK (QoS 1) or PUBCOMP (QoS 2), or the connection's end, on which
// paho fails every token it holds (a clean session keeps none).
func (l *v3link) serve(complete func(*broker.Message, broker.Outcome, error)) {
	// deadline is closed settleTimeout after the connection is gone.
	var deadline <-chan struct{}
	settle := func() {
		ch := make(chan struct{})
		time.AfterFunc(settleTimeout, func() { close(ch) })
		deadline = ch
	}
	for {
		l.mu.Lock()
		var p v3pending
		ok := len(l.queue) > 0
		if ok {
			p = l.queue[0]
			l.queue[0] = v3pending{}
			l.queue = l.queue[1:]
		} else if deadline != nil {
			l.served = true
		}
		l.mu.Unlock()
		if !ok {
			if deadline != nil {
				return
			}
			select {
			case <-l.more:
			case <-l.gone:
				// Whatever was published before the end is queued now,
				// or completes on its own (served).
				l.mu.Lock()
				if len(l.queue) == 0 {
					l.served = true
					l.mu.Unlock()
					return
				}
				l.mu.Unlock()
				settle()
			}
			continue
		}
		if deadline == nil {
			select {
			case <-p.tok.Done():
			case <-l.gone:
				settle()
			}
		}
		if deadline != nil {
			select {
			case <-p.tok.Done():
			case <-deadline:
				complete(p.m, broker.Indeterminate, errors.New("the connection closed before the broker answered"))
				continue
			}
		}
		if err := p.tok.Error(); err != nil {
			complete(p.m, failedOrUnknown(err), err)
			continue
		}
		complete(p.m, broker.Acked, nil)
	}
}
