package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqcheck/mqcheck/broker"
)

// msgIDHeader is JetStream's deduplication header.
const msgIDHeader = "Nats-Msg-Id"

// pending is one publish waiting for its answer: a JetStream ack future,
// or, in core mode, the next flush round trip.
type pending struct {
	m   *broker.Message
	f   jetstream.PubAckFuture
	err error // the client's error writing it: no answer will come
}

// producer publishes without waiting: JetStream publishes are async with
// ack futures; core publishes are confirmed by a flush (PING/PONG) that
// says the server read them. One goroutine completes publishes in the
// order they were made, so completions never overlap.
type producer struct {
	d    *driver
	opts broker.ProducerOptions
	nc   *nats.Conn
	js   jetstream.JetStream

	mu      sync.Mutex
	queue   []pending
	spare   []pending // the completer's last batch, emptied: the next queue
	busy    bool      // the completer holds a publish taken from queue
	closed  bool
	wake    chan struct{}
	closing chan struct{}
	done    chan struct{}

	acked []*broker.Message // core: confirmed by the flush, not yet completed (the completer's)

	resends atomic.Int64 // deliberate re-sends not yet answered
	timers  sync.WaitGroup
	stop    chan struct{}
}

func (d *driver) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	nc, err := d.connect(ctx, "producer "+strconv.Itoa(o.ID), o.Notify)
	if err != nil {
		return nil, err
	}
	p := &producer{d: d, opts: o, nc: nc, wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}), stop: make(chan struct{})}
	if d.c.Mode == modeJetStream {
		// Room for every publish the swarm keeps in flight and the
		// re-sends: a full window would stall Publish, then refuse.
		inFlight := d.spec.MaxInFlight
		if inFlight <= 0 {
			inFlight = 4096 // unknown
		}
		window := inFlight + d.c.DuplicateSends + 16
		p.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window), jetstream.WithPublishAsyncTimeout(d.c.PublishTimeout.D()))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("opening JetStream for producer %d: %w", o.ID, err)
		}
		go p.completeAcks()
	} else {
		go p.completeFlushes()
	}
	return p, nil
}

// CopiesPayload: a core publish is copied into the client's write buffer
// before Publish returns, and nothing reads it again. A JetStream publish is
// not: the client keeps the message for its ack future and re-sends read
// it after the ack.
func (p *producer) CopiesPayload() bool { return p.js == nil }

func msgID(m *broker.Message) string {
	return strconv.Itoa(m.Producer) + "-" + strconv.FormatUint(m.Seq, 10)
}

func (p *producer) Publish(ctx context.Context, m *broker.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Held throughout, so that Close cannot end the completer between
	// the send and the queueing.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("nats producer is closed")
	}
	var f jetstream.PubAckFuture
	var err error
	if p.js != nil {
		f, err = p.js.PublishMsgAsync(&nats.Msg{Subject: p.d.stream, Data: m.Payload, Header: nats.Header{msgIDHeader: {msgID(m)}}})
	} else {
		err = p.nc.Publish(p.d.stream, m.Payload)
	}
	// A publish the client could not write (the connection broke under
	// it) may have reached the server or not: indeterminate, in order.
	p.queue = append(p.queue, pending{m: m, f: f, err: err})
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// take returns the publishes waiting, or nil once the producer is closed
// and none are left. With all, done is the batch take returned last, all
// handled: its array becomes the queue, so that a busy core producer does
// not grow a new one per batch (growslice was 0.2 s of a 2 s profile).
func (p *producer) take(all bool, done []pending) ([]pending, bool) {
	if done != nil {
		clear(done) // the messages go back to the swarm's pool
		done = done[:0]
	}
	for {
		p.mu.Lock()
		if done != nil && p.spare == nil {
			p.spare, done = done, nil
		}
		if len(p.queue) > 0 {
			var out []pending
			if all {
				out, p.queue, p.spare = p.queue, p.spare, nil
			} else {
				out, p.queue = p.queue[:1:1], p.queue[1:]
			}
			p.busy = true
			p.mu.Unlock()
			return out, true
		}
		p.busy = false
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-p.wake:
		case <-p.closing:
		}
	}
}

// completeAcks waits for each JetStream ack in publish order. Once the
// producer is closing, what has no answer yet is indeterminate.
func (p *producer) completeAcks() {
	defer close(p.done)
	for {
		batch, ok := p.take(false, nil)
		if !ok {
			return
		}
		pe := batch[0]
		if pe.err != nil {
			p.opts.OnComplete(pe.m, broker.Indeterminate, fmt.Errorf("publishing to %s: %w", p.d.stream, pe.err))
			continue
		}
		var ack *jetstream.PubAck
		var err error
		select {
		case ack = <-pe.f.Ok():
		case err = <-pe.f.Err():
		case <-p.closing:
			select {
			case ack = <-pe.f.Ok():
			case err = <-pe.f.Err():
			default:
				err = errors.New("producer closed before the stream's ack")
			}
		}
		switch {
		case err == nil:
			p.resend(pe.m, ack)
			p.opts.OnComplete(pe.m, broker.Acked, nil)
		case isRefusal(err):
			p.opts.OnComplete(pe.m, broker.Failed, err)
		default:
			p.opts.OnComplete(pe.m, broker.Indeterminate, err)
		}
	}
}

// isRefusal: the stream answered no (full with discard new, a bad
// request): the message is not stored. Timeouts and lost connections are
// not refusals.
func isRefusal(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr)
}

// completeFlushes confirms core publishes a batch at a time: a flush that
// comes back means the server read everything published before it.
func (p *producer) completeFlushes() {
	defer close(p.done)
	var batch []pending
	for {
		var ok bool
		batch, ok = p.take(true, batch)
		if !ok {
			return
		}
		var err error
		select {
		case <-p.closing:
			err = errors.New("producer closed before the server confirmed reading the publish")
		default:
			err = p.nc.FlushTimeout(p.d.c.flushTimeout())
		}
		for _, pe := range batch {
			switch {
			case pe.err != nil:
				p.ackRun()
				p.opts.OnComplete(pe.m, broker.Indeterminate, fmt.Errorf("publishing to %s: %w", p.d.stream, pe.err))
			case err != nil:
				p.opts.OnComplete(pe.m, broker.Indeterminate, fmt.Errorf("flush: %w", err))
			case p.opts.OnCompleteBatch != nil:
				p.acked = append(p.acked, pe.m)
			default:
				p.opts.OnComplete(pe.m, broker.Acked, nil)
			}
		}
		p.ackRun()
	}
}

// ackRun completes the publishes one flush confirmed, gathered in acked,
// at once: they were all answered by the same PONG.
func (p *producer) ackRun() {
	if len(p.acked) == 0 {
		return
	}
	p.opts.OnCompleteBatch(p.acked, broker.Acked, nil)
	clear(p.acked) // the messages go back to the swarm's pool
	p.acked = p.acked[:0]
}

func (c *Config) flushTimeout() time.Duration {
	if c.PublishTimeout > 0 {
		return c.PublishTimeout.D()
	}
	return defaultPublishTimeout
}

// resend makes a deliberate re-send of m (duplicate_sends) with the same
// Msg-Id, duplicate_delay after its ack, as a client retrying after a lost
// answer would. A re-send that fails is given back.
func (p *producer) resend(m *broker.Message, _ *jetstream.PubAck) {
	d := p.d
	if d.dupLeft.Load() <= 0 {
		return
	}
	if d.dupLeft.Add(-1) < 0 {
		d.dupLeft.Add(1)
		return
	}
	msg := &nats.Msg{Subject: d.stream, Data: append([]byte(nil), m.Payload...), Header: nats.Header{msgIDHeader: {msgID(m)}}}
	producer, seq := m.Producer, m.Seq
	p.resends.Add(1)
	p.timers.Add(1)
	go func() {
		defer p.timers.Done()
		defer p.resends.Add(-1)
		select {
		case <-time.After(d.c.DuplicateDelay.D()):
		case <-p.stop:
			d.dupLeft.Add(1)
			return
		}
		f, err := p.js.PublishMsgAsync(msg)
		if err != nil {
			d.dupLeft.Add(1)
			return
		}
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				d.dupDropped.Add(1)
			}
		case <-f.Err():
			d.dupLeft.Add(1)
			return
		case <-p.stop:
			d.dupLeft.Add(1)
			return
		}
		if n := d.dupSent.Add(1); n == int64(d.c.DuplicateSends) && p.opts.Notify != nil {
			p.opts.Notify(broker.Notice{Kind: "duplicate-sends", At: time.Now(),
				Detail: fmt.Sprintf("%d deliberate duplicate sends accepted (duplicate_sends), the last of producer %d seq %d, %s after its ack; the stream answered %d of them as duplicates (window %s)",
					n, producer, seq, d.c.DuplicateDelay.D(), d.dupDropped.Load(), d.c.DuplicateWindow.D())})
		}
	}()
}

// Flush waits until every publish and re-send has its answer.
func (p *producer) Flush(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		p.mu.Lock()
		idle := len(p.queue) == 0 && !p.busy
		p.mu.Unlock()
		if idle && p.resends.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close completes what is in flight (indeterminate without an answer) and
// closes the connection.
func (p *producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.closing)
	<-p.done
	close(p.stop)
	p.timers.Wait()
	p.nc.Close()
	return nil
}
