package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	pahosession "github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/mqcheck/mqcheck/broker"
)

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

	mu      sync.Mutex
	pending map[uint16][]*broker.Message
}

func newSession(window int) *session {
	return &session{State: state.NewInMemory(), resp: make(chan packets.ControlPacket, window+16),
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
		s.pending[pb.PacketID] = append(s.pending[pb.PacketID], s.next)
		s.mu.Unlock()
		s.recorded = true
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
	var out []*broker.Message
	for id, q := range s.pending {
		out = append(out, q...)
		delete(s.pending, id)
	}
	return out
}

// producer publishes on one connection at a time, with a clean session:
// what was in flight when a connection drops is indeterminate (the broker
// may have it), and the next connection starts afresh.
type producer struct {
	d     *driver
	opts  broker.ProducerOptions
	id    string
	topic string
	qos   byte

	pubMu sync.Mutex // one Publish at a time
	cmu   sync.Mutex // one OnComplete at a time

	mu     sync.Mutex
	cur    *conn
	sess   *session
	closed bool

	outstanding atomic.Int64
	idle        chan struct{} // a token when outstanding reached 0
	cancel      context.CancelFunc
	done        chan struct{}
}

func (d *driver) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	p := &producer{d: d, opts: o, id: fmt.Sprintf("%s-p%d", d.prefix, o.ID), topic: d.publishTopic(o.ID),
		qos: byte(d.c.qos()), done: make(chan struct{}), idle: make(chan struct{}, 1)}
	c, s, err := p.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting producer %d: %w", o.ID, err)
	}
	p.cur, p.sess = c, s
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(rctx, c, s)
	return p, nil
}

func (p *producer) window() int {
	w := p.d.spec.MaxInFlight
	if w <= 0 || w > 65535 {
		w = 1024
	}
	return w
}

func (p *producer) connect(ctx context.Context) (*conn, *session, error) {
	s := newSession(p.window())
	c, err := p.d.dial(ctx, connectOptions{clientID: p.id, cleanStart: true, session: s})
	if err != nil {
		return nil, nil, err
	}
	return c, s, nil
}

// run reads the responses of each connection, and reconnects when one
// drops, until the producer closes.
func (p *producer) run(ctx context.Context, c *conn, s *session) {
	defer close(p.done)
	for {
		p.serve(c, s)
		p.mu.Lock()
		p.cur, p.sess = nil, nil
		closed := p.closed
		p.mu.Unlock()
		if closed || ctx.Err() != nil {
			return
		}
		p.notify("disconnected", fmt.Sprintf("producer %d lost its connection", p.opts.ID))
		var err error
		for n := 0; ; n++ {
			if !sleep(ctx, backoff(n)) {
				return
			}
			if c, s, err = p.connect(ctx); err == nil {
				break
			}
			if n == 10 {
				p.notify("reconnect-failing", fmt.Sprintf("producer %d: %v", p.opts.ID, err))
			}
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.client.Disconnect(&paho.Disconnect{})
			return
		}
		p.cur, p.sess = c, s
		p.mu.Unlock()
		p.notify("reconnected", fmt.Sprintf("producer %d", p.opts.ID))
	}
}

// serve completes publishes as their responses come, until the connection
// is gone; what is left is indeterminate.
func (p *producer) serve(c *conn, s *session) {
	for {
		select {
		case cp := <-s.resp:
			p.response(s, cp)
		case <-c.client.Done():
			for {
				select {
				case cp := <-s.resp:
					p.response(s, cp)
					continue
				default:
				}
				break
			}
			for _, m := range s.takeAll() {
				p.complete(m, broker.Indeterminate, errors.New("the connection closed before the broker answered"))
			}
			return
		}
	}
}

// response completes the publish a PUBACK, PUBREC or PUBCOMP answers.
func (p *producer) response(s *session, cp packets.ControlPacket) {
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
			p.complete(m, broker.Indeterminate, fmt.Errorf("PUBCOMP reason %#x", r.ReasonCode))
			return
		}
	}
	if code >= 0x80 {
		p.complete(m, broker.Failed, fmt.Errorf("the broker refused the publish: reason %#x", code))
		return
	}
	p.complete(m, broker.Acked, nil)
}

func (p *producer) complete(m *broker.Message, o broker.Outcome, err error) {
	p.cmu.Lock()
	p.opts.OnComplete(m, o, err)
	p.cmu.Unlock()
	if p.outstanding.Add(-1) == 0 {
		select {
		case p.idle <- struct{}{}:
		default:
		}
	}
}

func (p *producer) notify(kind, detail string) {
	if p.opts.Notify != nil {
		p.opts.Notify(broker.Notice{Kind: kind, Detail: detail, At: time.Now()})
	}
}

// Publish writes m; QoS 0 is complete (acked: written) once written.
func (p *producer) Publish(ctx context.Context, m *broker.Message) error {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	p.mu.Lock()
	c, s, closed := p.cur, p.sess, p.closed
	p.mu.Unlock()
	if closed {
		return errors.New("producer closed")
	}
	p.outstanding.Add(1)
	if c == nil {
		p.complete(m, broker.Failed, errNotConnected)
		return nil
	}
	p.d.lastSend.Store(time.Now().UnixNano())
	pub := &paho.Publish{QoS: p.qos, Topic: p.topic, Payload: m.Payload, Retain: p.d.c.Retain}
	if p.qos == 0 {
		if _, err := c.client.PublishWithOptions(ctx, pub, paho.PublishOptions{}); err != nil {
			p.complete(m, broker.Indeterminate, err)
			return nil
		}
		p.complete(m, broker.Acked, nil)
		return nil
	}
	s.next, s.recorded = m, false
	_, err := c.client.PublishWithOptions(ctx, pub, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	recorded := s.recorded
	s.next = nil
	switch {
	case recorded:
		// In the session: its response, or the connection's end,
		// completes it (ErrNetworkErrorAfterStored included).
		return nil
	case ctx.Err() != nil:
		p.outstanding.Add(-1)
		return ctx.Err()
	case errors.Is(err, paho.ErrInvalidArguments):
		p.complete(m, broker.Failed, err)
	default:
		// Not stored, not written (the connection went while waiting
		// for a slot in the broker's receive window).
		p.complete(m, broker.Failed, fmt.Errorf("publish not sent: %w", err))
	}
	return nil
}

// Flush waits until every publish has completed.
func (p *producer) Flush(ctx context.Context) error {
	for p.outstanding.Load() > 0 {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-p.idle:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// Close disconnects; what was in flight completes as indeterminate.
func (p *producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	c := p.cur
	p.mu.Unlock()
	p.cancel()
	if c != nil {
		_ = c.client.Disconnect(&paho.Disconnect{ReasonCode: 0})
	}
	<-p.done
	return nil
}
