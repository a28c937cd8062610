package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqcheck/mqcheck/broker"
)

// consumer is one worker of a subscription: in jetstream mode it reads the
// subscription's durable consumer (pull or push), competing with the
// subscription's other workers; in core mode it is a member of the
// subscription's queue group on the subject.
type consumer struct {
	d      *driver
	opts   broker.ConsumerOptions
	nc     *nats.Conn
	domain string
	posDom string
	core   *nats.Subscription // core mode: subscribed at creation

	closeOnce sync.Once
}

var _ broker.Crasher = (*consumer)(nil)

func (d *driver) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	who := fmt.Sprintf("consumer %d of subscription %d", o.ID, o.Subscription)
	nc, err := d.connect(ctx, who, o.Notify)
	if err != nil {
		return nil, err
	}
	c := &consumer{d: d, opts: o, nc: nc, domain: d.stream}
	if d.spec.Consumers > 1 {
		// Workers compete for one stream: each sees its own share in
		// order, so a domain is a worker's view; positions are the
		// stream's.
		c.domain = d.stream + "#w" + strconv.Itoa(o.ID)
		c.posDom = d.stream
	}
	if d.c.Mode == modeCore {
		// Subscribed now, before any producer starts: core NATS gives a
		// subscriber only what is published while it is there.
		sub, err := nc.QueueSubscribeSync(d.stream, d.durable(o.Subscription))
		if err == nil {
			err = sub.SetPendingLimits(d.c.PendingLimit, -1)
		}
		if err == nil {
			err = nc.FlushTimeout(5 * time.Second)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("subscribing %s to %s: %w", who, d.stream, err)
		}
		c.core = sub
		d.addSub(sub)
	}
	return c, nil
}

func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	if c.core != nil {
		return c.runCore(ctx, h)
	}
	return c.runJetStream(ctx, h)
}

func (c *consumer) runCore(ctx context.Context, h broker.Handler) error {
	d := broker.Delivery{Domain: c.domain}
	for {
		m, err := c.core.NextMsgWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
				return nil
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				continue // reported by the error handler; the drops are the loss
			}
			return fmt.Errorf("reading %s: %w", c.d.stream, err)
		}
		c.slow(ctx)
		d.Payload = m.Data
		if err := h(&d); err != nil {
			return err
		}
	}
}

func (c *consumer) slow(ctx context.Context) {
	if w := c.d.c.ConsumerDelay.D(); w > 0 {
		select {
		case <-time.After(w):
		case <-ctx.Done():
		}
	}
}

// advisory is what the server says of a message it gave up on: past
// max_deliver, or terminated by a consumer.
type advisory struct {
	StreamSeq uint64 `json:"stream_seq"`
	reason    string
}

// runJetStream delivers from the durable consumer, and from the server's
// advisories the messages it stopped delivering (max_deliver reached,
// terminated), read back from the stream and flagged dead-lettered.
func (c *consumer) runJetStream(ctx context.Context, h broker.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("opening JetStream: %w", err)
	}
	msgs := make(chan jetstream.Msg)
	advs := make(chan advisory, 256)
	durable := c.d.durable(c.opts.Subscription)
	if c.d.c.maxDeliver() > 0 || c.d.spec.FailAction == broker.FailDeadLetter {
		for subj, reason := range map[string]string{
			"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + c.d.stream + "." + durable: "max_deliver",
			"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED." + c.d.stream + "." + durable: "terminated",
		} {
			s, err := c.nc.QueueSubscribe(subj, "mqcheck-dlq-"+durable, func(m *nats.Msg) {
				var a advisory
				if json.Unmarshal(m.Data, &a) == nil && a.StreamSeq > 0 {
					a.reason = reason
					select {
					case advs <- a:
					case <-ctx.Done():
					}
				}
			})
			if err != nil {
				return fmt.Errorf("subscribing to %s: %w", subj, err)
			}
			defer s.Unsubscribe()
		}
	}
	stopRead, err := c.read(ctx, js, durable, msgs)
	if err != nil {
		return err
	}
	// The reader goroutine may be blocked handing a message over: end
	// ctx first.
	defer func() { cancel(); stopRead() }()
	stream, err := js.Stream(ctx, c.d.stream)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading stream %s: %w", c.d.stream, err)
	}
	d := broker.Delivery{Domain: c.domain, PositionDomain: c.posDom, HasPosition: true}
	for {
		select {
		case <-ctx.Done():
			return nil
		case a := <-advs:
			gctx, gcancel := context.WithTimeout(ctx, 10*time.Second)
			raw, err := stream.GetMsg(gctx, a.StreamSeq)
			gcancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.notify("dead-letter-unread", fmt.Sprintf("stream seq %d (%s): %v", a.StreamSeq, a.reason, err))
				continue
			}
			d := broker.Delivery{Payload: raw.Data, Domain: c.domain, PositionDomain: c.posDom, Position: raw.Sequence, HasPosition: true,
				DeadLettered: true, Reason: a.reason}
			if err := h(&d); err != nil && !errors.Is(err, broker.ErrDeadLetter) && !errors.Is(err, broker.ErrReject) {
				return err
			}
		case m := <-msgs:
			md, err := m.Metadata()
			if err != nil {
				continue // not a JetStream message: nothing to ack
			}
			c.slow(ctx)
			d.Payload, d.Position, d.Redelivered = m.Data(), md.Sequence.Stream, md.NumDelivered > 1
			if err := c.settle(m, h(&d)); err != nil {
				return err
			}
		}
	}
}

// settle answers the server for one delivery the handler returned err
// for. An error it gives back is the handler's own (a crash): the
// delivery stays unacked.
func (c *consumer) settle(m jetstream.Msg, err error) error {
	cfg := c.d.c
	if cfg.AckPolicy == "none" {
		return err
	}
	nak := func() error {
		if w := cfg.NakDelay.D(); w > 0 {
			return m.NakWithDelay(w)
		}
		return m.Nak()
	}
	switch {
	case err == nil:
		_ = m.Ack()
	case (errors.Is(err, broker.ErrReject) || errors.Is(err, broker.ErrDeadLetter)) && cfg.Reject == rejectNoAck:
		// Left unanswered: the server delivers it again after ack_wait,
		// and past max_deliver gives it up with an advisory.
	case errors.Is(err, broker.ErrReject):
		_ = nak()
	case errors.Is(err, broker.ErrDeadLetter):
		// Delivered again until max_deliver, or terminated at once: the
		// server's advisory then brings it back as dead-lettered.
		if cfg.maxDeliver() > 0 {
			_ = nak()
		} else {
			_ = m.Term()
		}
	default:
		return err
	}
	return nil
}

// read starts delivering the durable consumer's messages into msgs, from a
// pull consumer's continuous fetch or a push consumer's queue group, and
// keeps at it across server restarts until ctx ends.
func (c *consumer) read(ctx context.Context, js jetstream.JetStream, durable string, msgs chan<- jetstream.Msg) (func(), error) {
	if c.d.c.Consumer == "push" {
		var cons jetstream.PushConsumer
		var err error
		for {
			cons, err = js.CreateOrUpdatePushConsumer(ctx, c.d.stream, c.d.consumerConfig(c.opts.Subscription))
			if err == nil || ctx.Err() != nil {
				break
			}
			if !c.wait(ctx, "push consumer", err) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("opening push consumer %s: %w", durable, err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			select {
			case msgs <- m:
			case <-ctx.Done():
			}
		})
		if err != nil {
			return nil, fmt.Errorf("consuming from push consumer %s: %w", durable, err)
		}
		return cc.Stop, nil
	}
	done := make(chan struct{})
	var mu sync.Mutex
	var it jetstream.MessagesContext
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cons, err := js.Consumer(ctx, c.d.stream, durable)
			if err == nil {
				mu.Lock()
				it, err = cons.Messages(jetstream.PullMaxMessages(c.d.c.FetchBatch))
				mu.Unlock()
			}
			if err != nil {
				if !c.wait(ctx, "pull consumer", err) {
					return
				}
				continue
			}
			for {
				m, err := it.Next()
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
						c.wait(ctx, "pull consumer", err)
					}
					it.Stop()
					break
				}
				select {
				case msgs <- m:
				case <-ctx.Done():
					it.Stop()
					return
				}
			}
		}
	}()
	return func() {
		mu.Lock()
		if it != nil {
			it.Stop()
		}
		mu.Unlock()
		<-done
	}, nil
}

// wait reports err and sleeps a little before the next try; false when
// ctx ended.
func (c *consumer) wait(ctx context.Context, what string, err error) bool {
	c.notify("consumer-retry", fmt.Sprintf("%s %s: %v", what, c.d.durable(c.opts.Subscription), err))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(500 * time.Millisecond):
		return true
	}
}

func (c *consumer) notify(kind, detail string) {
	if c.opts.Notify != nil {
		c.opts.Notify(broker.Notice{Kind: kind, Detail: detail, At: time.Now()})
	}
}

// Close drops the connection: what was delivered and not acked comes
// again after ack_wait.
func (c *consumer) Close() error {
	c.closeOnce.Do(func() {
		if c.core != nil {
			c.d.dropSub(c.core)
			if n, err := c.core.Dropped(); err == nil && n > 0 {
				c.notify("slow-consumer", fmt.Sprintf("consumer %d of subscription %d: the client dropped %d messages in all (pending limit %d exceeded)",
					c.opts.ID, c.opts.Subscription, n, c.d.c.PendingLimit))
			}
		}
		c.nc.Close()
	})
	return nil
}

// Crash is Close: nothing more is acked either way.
func (c *consumer) Crash() error { return c.Close() }
