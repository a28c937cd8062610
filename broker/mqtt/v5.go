package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	pahosession "github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/mqcheck/mqcheck/broker"
)

// v5link is an MQTT 5 connection: a paho.golang client over a socket
// mqcheck dialled.
type v5link struct {
	client  *paho.Client
	raw     net.Conn
	connack *paho.Connack
	sess    *session // producers' only
}

var _ link = (*v5link)(nil)

func (d *driver) dialV5(ctx context.Context, raw net.Conn, o connectOptions) (link, error) {
	l := &v5link{raw: raw}
	readBuf := consumerReadBuf
	if o.window > 0 {
		readBuf = producerReadBuf
	}
	cfg := paho.ClientConfig{ClientID: o.clientID, Conn: newPacketConn(raw, readBuf), PacketTimeout: packetTimeout}
	if o.window > 0 {
		l.sess = newSession(o.window)
		cfg.Session = l.sess
	} else {
		cfg.Session = state.NewInMemory()
	}
	if o.onMessage != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			// paho acknowledges when this returns: a message the
			// consumer did not take (its handler failed, or it is
			// stopping) must not be, so the socket closes first and the
			// broker keeps the message for the session.
			if !o.onMessage(inbound{topic: pr.Packet.Topic, payload: pr.Packet.Payload, dup: pr.Packet.Duplicate()}) {
				_ = raw.Close()
			}
			return true, nil
		}}
	}
	l.client = paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: o.clientID, CleanStart: o.cleanStart, KeepAlive: uint16(d.c.KeepAlive.D() / time.Second),
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}}
	recvMax := o.recvMax
	if o.window > 0 && recvMax == 0 {
		// A producer subscribes to nothing: paho sizes a channel by the
		// receive maximum (65535 pointers by default, 512 KiB a client).
		recvMax = producerRecvMax
	}
	if recvMax > 0 {
		rm := uint16(recvMax)
		cp.Properties.ReceiveMaximum = &rm
	}
	if d.ep.username != "" {
		cp.Username, cp.UsernameFlag = d.ep.username, true
	}
	if d.ep.password != "" {
		cp.Password, cp.PasswordFlag = []byte(d.ep.password), true
	}
	ca, err := l.client.Connect(ctx, cp)
	if err != nil {
		raw.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			return nil, fmt.Errorf("the broker at %s refused client %s: %s (reason %#x)", d.ep.addr, o.clientID, ca.Properties.ReasonString, ca.ReasonCode)
		}
		return nil, fmt.Errorf("connecting client %s to %s: %w", o.clientID, d.ep.addr, err)
	}
	l.connack = ca
	return l, nil
}

func (l *v5link) done() <-chan struct{} { return l.client.Done() }
func (l *v5link) rawConn() net.Conn     { return l.raw }
func (l *v5link) sessionPresent() bool  { return l.connack.SessionPresent }

func (l *v5link) disconnect() {
	_ = l.client.Disconnect(&paho.Disconnect{})
	<-l.client.Done()
}

func (l *v5link) subscribe(ctx context.Context, filter string, qos byte) error {
	sctx, cancel := context.WithTimeout(ctx, packetTimeout)
	defer cancel()
	// Retained messages only for a new subscription: a session that kept
	// its subscription does not get the retained message again.
	sa, err := l.client.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: filter, QoS: qos, RetainHandling: 1}}})
	if err != nil {
		return err
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		return fmt.Errorf("%w: the broker refused it: reasons %v", broker.ErrConfig, sa.Reasons)
	}
	return nil
}

func (l *v5link) publish(ctx context.Context, topic string, qos byte, retain bool, m *broker.Message) (sent, error) {
	pub := &paho.Publish{QoS: qos, Topic: topic, Payload: m.Payload, Retain: retain}
	if qos == 0 {
		if _, err := l.client.PublishWithOptions(ctx, pub, paho.PublishOptions{}); err != nil {
			return sent{outcome: broker.Indeterminate, err: err}, nil
		}
		return sent{outcome: broker.Acked}, nil
	}
	s := l.sess
	s.next, s.recorded, s.late = m, false, false
	_, err := l.client.PublishWithOptions(ctx, pub, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	recorded, late := s.recorded, s.late
	s.next = nil
	switch {
	case recorded:
		// In the session: its response, or the connection's end,
		// completes it (ErrNetworkErrorAfterStored included).
		return sent{inFlight: true}, nil
	case late:
		return sent{outcome: broker.Indeterminate, err: errors.New("the connection closed before the broker answered")}, nil
	case ctx.Err() != nil:
		return sent{}, ctx.Err()
	case errors.Is(err, paho.ErrInvalidArguments):
		return sent{outcome: broker.Failed, err: err}, nil
	default:
		// Not stored, not written (the connection went while waiting
		// for a slot in the broker's receive window).
		return sent{outcome: broker.Failed, err: fmt.Errorf("publish not sent: %w", err)}, nil
	}
}

func (l *v5link) serve(complete func(*broker.Message, broker.Outcome, error)) {
	s := l.sess
	for {
		select {
		case cp := <-s.resp:
			s.response(cp, complete)
		case <-l.client.Done():
			for {
				select {
				case cp := <-s.resp:
					s.response(cp, complete)
					continue
				default:
				}
				break
			}
			for _, m := range s.takeAll() {
				complete(m, broker.Indeterminate, errors.New("the connection closed before the broker answered"))
			}
			return
		}
	}
}

// session is paho's in-memory session state with one response channel for
// every publish of a connection, read by one goroutine, instead of a
// goroutine blocked in Publish per message in flight: it maps each
// packet identifier to the messages sent under it, in order (an
// identifier is reused only after its publish completed).
type session struct {
	*state.State
	resp chan packets.ControlPacket

	// next is the message the producer is publishing (set under its
	// publish lock), recorded when paho gives it an identifier.
	next     *broker.Message
	recorded bool

	// late says the message paho stored came after the connection's end
	// was served (takeAll): no response nor sweep will complete it, so
	// its publish does, as indeterminate (it may have been written).
	late bool

	mu      sync.Mutex
	pending map[uint16][]*broker.Message
	swept   bool // takeAll ran: the connection is over
}

// The read buffers of a producer's connection, which reads
// acknowledgements of 4 bytes (a window of 64 is 256), and of a
// consumer's, which reads deliveries: a fleet of 10,000 producers holds
// 5 MB of them.
const (
	producerReadBuf = 512
	consumerReadBuf = 4096
)

// producerRecvMax is the receive maximum producers announce.
const producerRecvMax = 16

// respBuffer bounds a producer's response channel: its reader (serve)
// only completes messages, so a full channel holds paho back a moment, no
// more, and a fleet's slow producers do not each keep a window's room.
const respBuffer = 64

func newSession(window int) *session {
	return &session{State: state.NewInMemory(), resp: make(chan packets.ControlPacket, min(window, respBuffer)+16),
		pending: map[uint16][]*broker.Message{}}
}

// AddToSession records the publish under its identifier once paho has
// stored it, before it is written: its response cannot come first.
func (s *session) AddToSession(ctx context.Context, pkt pahosession.Packet, _ chan<- packets.ControlPacket) error {
	if err := s.State.AddToSession(ctx, pkt, s.resp); err != nil {
		return err
	}
	if pb, ok := pkt.(*packets.Publish); ok && s.next != nil {
		s.mu.Lock()
		if s.swept {
			// The connection's end was served while paho stored it
			// (a container killed mid-publish left one message in
			// flight for good).
			s.late = true
		} else {
			s.pending[pb.PacketID] = append(s.pending[pb.PacketID], s.next)
			s.recorded = true
		}
		s.mu.Unlock()
	}
	return nil
}

// take removes the oldest message sent under id.
func (s *session) take(id uint16) *broker.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.pending[id]
	if len(q) == 0 {
		return nil
	}
	m := q[0]
	if len(q) == 1 {
		delete(s.pending, id)
	} else {
		s.pending[id] = q[1:]
	}
	return m
}

// takeAll removes every message still waiting for its response.
func (s *session) takeAll() []*broker.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.swept = true
	var out []*broker.Message
	for id, q := range s.pending {
		out = append(out, q...)
		delete(s.pending, id)
	}
	return out
}

// response completes the publish a PUBACK, PUBREC or PUBCOMP answers.
func (s *session) response(cp packets.ControlPacket, complete func(*broker.Message, broker.Outcome, error)) {
	if cp.Type == 0 {
		return // paho's shutdown marker: serve fails what is left
	}
	m := s.take(cp.PacketID())
	if m == nil {
		return
	}
	var code byte
	switch r := cp.Content.(type) {
	case *packets.Puback:
		code = r.ReasonCode
	case *packets.Pubrec:
		code = r.ReasonCode
	case *packets.Pubcomp:
		if r.ReasonCode >= 0x80 {
			// The broker no longer knew the identifier (0x92): it
			// lost the exchange, the message may be stored or not.
			complete(m, broker.Indeterminate, fmt.Errorf("PUBCOMP reason %#x", r.ReasonCode))
			return
		}
	}
	if code >= 0x80 {
		complete(m, broker.Failed, fmt.Errorf("the broker refused the publish: reason %#x", code))
		return
	}
	complete(m, broker.Acked, nil)
}
