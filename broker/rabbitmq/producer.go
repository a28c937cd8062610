package rabbitmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

// errClosed is returned by Publish and Run after Close.
var errClosed = errors.New("closed")

// producerCloseWait bounds how long Close waits for the last completions;
// they come as soon as the connection is closed, so running out means a bug.
const producerCloseWait = 30 * time.Second

// maxOutage bounds how long Publish waits for a reconnect. A broker that
// does not come back within it (a restart that failed) ends the producer
// with an error, rather than holding the run for ever.
const maxOutage = 2 * time.Minute

// producer publishes on its own connection and channel, as an independent
// publisher would.
//
// With confirms, Publish pushes each message on the session's fifo before
// writing it, and one goroutine (manage) reads the channel's confirms and
// pops the fifo for each. amqp091 hands confirms over in delivery-tag order
// (it resequences them and splits `multiple` acks into one per tag), and tags
// follow publish order on a channel, so the fifo's head is always the message
// a confirm is about: no map and no lock per message. The same goroutine
// calls every OnComplete, so completions never overlap.
//
// Returns: amqp091 reads frames on one goroutine and hands a basic.return to
// its listener before it reads the confirm that follows, so draining the
// returns listener before handling a confirm always finds the confirm's
// return. The return carries no delivery tag; it is matched by payload, which
// holds the message's identity. Both listeners have room for the whole
// window: amqp091 drops what a listener does not take within 5s.
//
// When the connection dies, manage sweeps the fifo: everything unconfirmed is
// Indeterminate. Publish and the sweep meet with two flags (publishing,
// dead), so that a message pushed on a dying session is always swept.
type producer struct {
	st         *settings
	id         int
	onComplete broker.Completion
	exchange   string
	key        string
	mandatory  bool
	confirms   bool
	mode       uint8 // delivery mode: amqp.Persistent or amqp.Transient

	life    context.Context // ends at Close: bounds dials
	cancel  context.CancelFunc
	closed  atomic.Bool
	closing chan struct{}
	once    sync.Once
	done    chan struct{} // manage returned: every publish was completed

	cur     atomic.Pointer[pubSession]
	pending atomic.Int64
	// busySince is when pending last rose from 0 (unix ns): a confirm
	// timeout counts from there or from the last confirm, whichever is
	// later.
	busySince atomic.Int64
	link      link // manage's goroutine only
}

// pubSession is one connection's worth of publishing.
type pubSession struct {
	c         *conn
	ch        *amqp.Channel
	fifo      chan *broker.Message // confirms only: published, not confirmed, in tag order
	confirmCh chan amqp.Confirmation
	returnCh  chan amqp.Return
	closeCh   chan *amqp.Error

	stuck      atomic.Bool   // dropped by the producer after confirm_timeout
	dead       atomic.Bool   // set before the sweep: Publish must not push any more
	publishing atomic.Bool   // Publish is pushing or writing on this session
	next       chan struct{} // closed when a new session replaces it, or at Close
}

func (d *driver) newProducer(ctx context.Context, o broker.ProducerOptions) (*producer, error) {
	if o.OnComplete == nil {
		return nil, errors.New("creating rabbitmq producer: ProducerOptions.OnComplete is nil")
	}
	st := d.st
	p := &producer{
		st:         st,
		id:         o.ID,
		onComplete: o.OnComplete,
		exchange:   st.topo.exchange,
		key:        st.topo.routeKey(o.ID),
		mandatory:  st.r.Mandatory,
		confirms:   st.r.HasConfirms(),
		mode:       amqp.Transient,
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		link:       link{who: fmt.Sprintf("producer %d", o.ID), notify: o.Notify},
	}
	if st.r.IsPersistent() {
		p.mode = amqp.Persistent
	}
	p.life, p.cancel = context.WithCancel(context.Background())
	s, err := p.open(ctx)
	if err != nil {
		p.cancel()
		return nil, fmt.Errorf("creating rabbitmq producer %d: %w", o.ID, err)
	}
	p.cur.Store(s)
	go p.manage(s)
	return p, nil
}

// open connects, declares the topology and sets up confirms.
func (p *producer) open(ctx context.Context) (*pubSession, error) {
	c, err := p.st.connect(ctx, fmt.Sprintf("mqcheck-%s-p%d", p.st.runID, p.id))
	if err != nil {
		return nil, err
	}
	s := &pubSession{c: c, next: make(chan struct{})}
	err = c.guard(ctx, func() error {
		ch, err := c.Channel()
		if err != nil {
			return fmt.Errorf("opening a channel: %w", err)
		}
		s.ch = ch
		if err := p.st.topo.declare(ch); err != nil {
			return err
		}
		if p.confirms {
			if err := ch.Confirm(false); err != nil {
				return fmt.Errorf("turning on publisher confirms: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		c.shut()
		return nil, err
	}
	// Listeners go in before the first publish; on a channel that closed
	// meanwhile amqp091 closes them at once, which ends the session.
	s.closeCh = s.ch.NotifyClose(make(chan *amqp.Error, 1))
	if p.confirms {
		s.fifo = make(chan *broker.Message, p.st.maxInFlight)
		// Room for every confirm the fifo allows: amqp091 drops a confirm
		// its listener does not take within 5s.
		s.confirmCh = s.ch.NotifyPublish(make(chan amqp.Confirmation, p.st.maxInFlight+1))
		s.returnCh = s.ch.NotifyReturn(make(chan amqp.Return, p.st.maxInFlight+1))
	}
	return s, nil
}

// Publish writes m on the current connection, waiting for a reconnect while
// there is none (the time without service shows as publish latency).
func (p *producer) Publish(ctx context.Context, m *broker.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rabbitmq producer %d: publishing seq %d: %w", p.id, m.Seq, err)
	}
	if p.closed.Load() {
		return fmt.Errorf("rabbitmq producer %d: publishing seq %d: %w", p.id, m.Seq, errClosed)
	}
	if p.trySend(p.cur.Load(), m) {
		return nil
	}
	return p.publishAfterReconnect(ctx, m)
}

// trySend sends m on s unless s is dead. The flags pair with sweep: a
// message pushed on s is always seen by s's sweep.
func (p *producer) trySend(s *pubSession, m *broker.Message) bool {
	s.publishing.Store(true)
	defer s.publishing.Store(false)
	if s.dead.Load() {
		return false
	}
	p.send(s, m)
	return true
}

// publishAfterReconnect waits for a live session and sends m on it.
func (p *producer) publishAfterReconnect(ctx context.Context, m *broker.Message) error {
	outage := time.NewTimer(maxOutage)
	defer outage.Stop()
	for !p.closed.Load() {
		s := p.cur.Load()
		if p.trySend(s, m) {
			return nil
		}
		select {
		case <-s.next:
		case <-ctx.Done():
			return fmt.Errorf("rabbitmq producer %d: publishing seq %d while reconnecting: %w", p.id, m.Seq, ctx.Err())
		case <-outage.C:
			return fmt.Errorf("rabbitmq producer %d: publishing seq %d: %w: no connection to %s for %s",
				p.id, m.Seq, broker.ErrUnreachable, p.st.shown, maxOutage)
		case <-p.closing:
		}
	}
	return fmt.Errorf("rabbitmq producer %d: publishing seq %d: %w", p.id, m.Seq, errClosed)
}

// send publishes m on s; from here on m gets exactly one completion.
func (p *producer) send(s *pubSession, m *broker.Message) {
	if p.pending.Add(1) == 1 {
		// Only when the producer was idle: not a clock read per message.
		p.busySince.Store(time.Now().UnixNano())
	}
	if p.confirms {
		// Blocks only beyond maxInFlight unconfirmed, which the swarm's
		// window prevents; manage keeps popping, also while it sweeps.
		s.fifo <- m
	}
	// Not Publish's ctx: once pushed, m must be written or the fifo would
	// no longer follow the delivery tags.
	err := s.ch.PublishWithContext(context.Background(), p.exchange, p.key, p.mandatory, false,
		amqp.Publishing{DeliveryMode: p.mode, Body: m.Payload})
	if err != nil {
		// amqp091 shuts a connection whose write failed, which ends the
		// session; crashing it too covers a channel that stays half open.
		s.dead.Store(true)
		s.c.crash()
		if !p.confirms {
			o, oerr := writeOutcome(err)
			p.complete(m, o, oerr)
		}
		return
	}
	if !p.confirms {
		p.complete(m, broker.Acked, nil)
	}
}

func (p *producer) complete(m *broker.Message, o broker.Outcome, err error) {
	p.onComplete(m, o, err)
	p.pending.Add(-1)
}

// manage serves one session after the other until Close.
func (p *producer) manage(s *pubSession) {
	defer close(p.done)
	for {
		reason := p.serve(s)
		if p.closed.Load() {
			close(s.next)
			return
		}
		p.link.lost(reason)
		ns := p.reconnect()
		if ns == nil {
			close(s.next)
			return
		}
		p.cur.Store(ns)
		close(s.next)
		if p.closed.Load() {
			// Close may have shut the previous session just before.
			ns.c.shut()
		}
		p.link.back()
		s = ns
	}
}

// serve completes s's publishes until its channel closes, then sweeps what
// is left as indeterminate. It returns why the channel closed.
func (p *producer) serve(s *pubSession) error {
	var reason error
	if p.confirms {
		p.confirmLoop(s)
		reason = closeReason(s.closeCh)
		if s.stuck.Load() {
			reason = fmt.Errorf("dropped after no confirm for %s (confirm_timeout)", p.st.r.ConfirmTimeout)
		}
	} else {
		for e := range s.closeCh {
			if e != nil {
				reason = e
			}
		}
	}
	s.dead.Store(true)
	s.c.shut()
	p.sweep(s, reason)
	if reason == nil && !p.closed.Load() {
		reason = errors.New("channel closed")
	}
	return reason
}

func (p *producer) confirmLoop(s *pubSession) {
	expected := uint64(1)
	var returns []amqp.Return
	confirms, rets := s.confirmCh, s.returnCh
	var tick <-chan time.Time
	timeout := p.st.r.ConfirmTimeout.D()
	// lastConfirm is dated at the first tick after a confirm came, not
	// with a clock read per confirm: later than it came, so a stuck
	// channel is never crashed early, at most one tick late.
	lastConfirm := time.Now().UnixNano()
	confirmed := false // since the last tick
	if timeout > 0 {
		t := time.NewTicker(min(timeout/4, time.Second))
		defer t.Stop()
		tick = t.C
	}
	for confirms != nil {
		select {
		case now := <-tick:
			if confirmed {
				lastConfirm, confirmed = now.UnixNano(), false
			}
			since := max(lastConfirm, p.busySince.Load())
			if p.pending.Load() > 0 && time.Since(time.Unix(0, since)) > timeout {
				s.stuck.Store(true)
				s.c.crash()
			}
		case c, ok := <-confirms:
			if !ok {
				confirms = nil
				continue
			}
			confirmed = true
			returns = drainReturns(rets, returns)
			if c.DeliveryTag < expected {
				continue // never seen: amqp091 hands each tag over once
			}
			for ; expected < c.DeliveryTag; expected++ {
				p.complete(<-s.fifo, broker.Indeterminate, errConfirmGap)
			}
			expected++
			m := <-s.fifo
			var ret *amqp.Return
			if len(returns) > 0 {
				ret, returns = takeReturn(returns, m.Payload)
			}
			o, err := confirmOutcome(c.Ack, ret)
			p.complete(m, o, err)
		case r, ok := <-rets:
			if !ok {
				rets = nil
				continue
			}
			returns = append(returns, r)
		}
	}
}

// drainReturns appends every return already waiting in rets.
func drainReturns(rets <-chan amqp.Return, to []amqp.Return) []amqp.Return {
	for {
		select {
		case r, ok := <-rets:
			if !ok {
				return to
			}
			to = append(to, r)
		default:
			return to
		}
	}
}

// takeReturn removes and returns the return of payload, if any. Returns are
// rare and short-lived (their confirm follows at once), so a scan is fine.
func takeReturn(rs []amqp.Return, payload []byte) (*amqp.Return, []amqp.Return) {
	for i := range rs {
		if bytes.Equal(rs[i].Body, payload) {
			r := rs[i]
			return &r, append(rs[:i], rs[i+1:]...)
		}
	}
	return nil, rs
}

// closeReason is the error the channel was closed with; nil for a close the
// producer asked for.
func closeReason(ch chan *amqp.Error) error {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case e, ok := <-ch:
		if ok && e != nil {
			return e
		}
	case <-t.C:
	}
	return nil
}

// sweep completes every publish left on s as indeterminate. s.dead is set:
// once no Publish is inside s, nothing more can be pushed.
func (p *producer) sweep(s *pubSession, reason error) {
	if s.fifo == nil {
		for s.publishing.Load() {
			time.Sleep(time.Millisecond)
		}
		return
	}
	o, err := lostOutcome(reason)
	for {
		busy := s.publishing.Load()
		for drained := false; !drained; {
			select {
			case m := <-s.fifo:
				p.complete(m, o, err)
			default:
				drained = true
			}
		}
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// reconnect dials with backoff until it gets a session or Close is called.
func (p *producer) reconnect() *pubSession {
	for attempt := 1; ; attempt++ {
		if !sleep(p.st.backoff(attempt), p.closing) {
			return nil
		}
		s, err := p.open(p.life)
		if err == nil {
			return s
		}
		if p.st.log != nil {
			p.st.log.Debug("rabbitmq producer reconnect failed", "producer", p.id, "attempt", attempt, "err", err)
		}
		p.link.failed(err)
	}
}

// Flush waits until every published message was completed.
func (p *producer) Flush(ctx context.Context) error {
	if err := broker.WaitCompleted(ctx, &p.pending); err != nil {
		return fmt.Errorf("flushing rabbitmq producer %d (%d messages unconfirmed): %w", p.id, p.pending.Load(), err)
	}
	return nil
}

// Close closes the connection; what was not confirmed by then completes as
// indeterminate before Close returns.
func (p *producer) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.closing)
		p.cancel()
		p.cur.Load().c.shut()
	})
	t := time.NewTimer(producerCloseWait)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("closing rabbitmq producer %d: %d publishes never completed", p.id, p.pending.Load())
	}
}
