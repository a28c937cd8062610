package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

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
	cur    link
	closed bool

	outstanding atomic.Int64
	idle        chan struct{} // a token when outstanding reached 0
	cancel      context.CancelFunc
	done        chan struct{}
}

func (d *driver) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	p := &producer{d: d, opts: o, id: fmt.Sprintf("%s-p%d", d.prefix, o.ID), topic: d.publishTopic(o.ID),
		qos: byte(d.c.qos(o.ID)), done: make(chan struct{}), idle: make(chan struct{}, 1)}
	c, err := p.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting producer %d: %w", o.ID, err)
	}
	p.cur = c
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(rctx, c)
	return p, nil
}

func (p *producer) window() int {
	w := p.d.spec.MaxInFlight
	if w <= 0 || w > 65535 {
		w = 1024
	}
	return w
}

func (p *producer) connect(ctx context.Context) (link, error) {
	return p.d.dial(ctx, connectOptions{clientID: p.id, cleanStart: true, window: p.window(), client: true})
}

// run reads the responses of each connection, and reconnects when one
// drops, until the producer closes.
func (p *producer) run(ctx context.Context, c link) {
	defer close(p.done)
	for {
		// What is left when the connection is gone is indeterminate.
		c.serve(p.complete)
		p.mu.Lock()
		p.cur = nil
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
			if c, err = p.connect(ctx); err == nil {
				break
			}
			if n == 10 {
				p.notify("reconnect-failing", fmt.Sprintf("producer %d: %v", p.opts.ID, err))
			}
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.disconnect()
			return
		}
		p.cur = c
		p.mu.Unlock()
		p.notify("reconnected", fmt.Sprintf("producer %d", p.opts.ID))
	}
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
	c, closed := p.cur, p.closed
	p.mu.Unlock()
	if closed {
		return errors.New("producer closed")
	}
	p.outstanding.Add(1)
	if c == nil {
		p.complete(m, broker.Failed, errNotConnected)
		return nil
	}
	// The swarm's reading of the send (unix ns), not a clock read of our own
	// per publish; a caller that gives none gets one.
	sent := m.Sent
	if sent == 0 {
		sent = time.Now().UnixNano()
	}
	p.d.lastSend.Store(sent)
	r, err := c.publish(ctx, p.topic, p.qos, p.d.c.Retain, m)
	switch {
	case err != nil:
		p.outstanding.Add(-1)
		return err
	case !r.inFlight:
		p.complete(m, r.outcome, r.err)
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
		c.disconnect()
	}
	<-p.done
	return nil
}
