package sqs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mqcheck/mqcheck/broker"
)

// Backoff of a consumer whose receives fail (the broker is down).
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 2 * time.Second
	// settleWait bounds the deletes and give-backs a consumer makes
	// after its context ended.
	settleWait = 5 * time.Second
)

// consumer long-polls its subscription's queue (and its dead-letter queue,
// if any) through its own HTTP client. A message is deleted once the
// handler took it (the ack), given back with ChangeMessageVisibility 0
// when it rejected it, and left to its visibility timeout when the
// consumer crashed.
type consumer struct {
	d    *driver
	cl   *clients
	opts broker.ConsumerOptions
	main *queue
	dead *queue
	// domains maps a message group to its ordering domain's name, so the
	// same string is handed out for the same domain; domain is a standard
	// queue's (and the dead-letter queue's), positions says whether
	// deliveries carry one.
	domains   map[string]string
	domain    string
	positions bool
	guard     broker.RunGuard
	wait      int32
	timeout   time.Duration

	hmu sync.Mutex // one handler call at a time across the two pollers

	mu      sync.Mutex
	held    []held // received, neither deleted nor given back (a Run that ended early)
	crashed bool
}

// held is a received message the consumer still holds.
type held struct {
	q       *queue
	receipt string
}

var (
	_ broker.Consumer = (*consumer)(nil)
	_ broker.Crasher  = (*consumer)(nil)
)

func (d *driver) newConsumer(ctx context.Context, o broker.ConsumerOptions) (*consumer, error) {
	sub := o.Subscription
	if sub < 0 || sub >= len(d.topo.main) {
		return nil, fmt.Errorf("sqs consumer %d: subscription %d of %d", o.ID, sub, len(d.topo.main))
	}
	wait := d.c.WaitTime.D()
	cl, err := newClients(ctx, d.c, d.ep, d.env, wait)
	if err != nil {
		return nil, fmt.Errorf("sqs consumer %d: %w", o.ID, err)
	}
	c := &consumer{d: d, cl: cl, opts: o, main: d.topo.main[sub], dead: d.topo.dlq[sub], domains: map[string]string{},
		wait: int32(wait / time.Second), timeout: d.c.callTimeout(wait), positions: d.topo.fifo || d.spec.Consumers <= 1}
	c.domain = c.main.name
	if !d.topo.fifo {
		c.domain += "@consumer-" + strconv.Itoa(o.ID)
	}
	return c, nil
}

// Run polls until ctx ends, Close or Crash, or the handler fails (its
// error is returned: what the consumer held stays unacknowledged).
func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	ctx, done, err := c.guard.Begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if c.opts.Handover != nil {
		// Leaving, the consumer gives up every group it read.
		defer c.opts.Handover()
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	queues := []*queue{c.main}
	if c.dead != nil {
		queues = append(queues, c.dead)
	}
	errs := make([]error, len(queues))
	for i, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.poll(ctx, q, h)
			if errs[i] != nil {
				stop(errs[i])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// poll receives from q until ctx ends or the handler fails.
func (c *consumer) poll(ctx context.Context, q *queue, h broker.Handler) error {
	backoff := backoffMin
	down := false
	for ctx.Err() == nil {
		msgs, err := c.receive(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !down && c.opts.Notify != nil {
				c.opts.Notify(broker.Notice{Kind: "disconnected", Detail: fmt.Sprintf("consumer %d: receiving from %s: %v", c.opts.ID, q.name, err), At: time.Now()})
			}
			down = true
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, backoffMax)
			continue
		}
		if down && c.opts.Notify != nil {
			c.opts.Notify(broker.Notice{Kind: "reconnected", Detail: fmt.Sprintf("consumer %d: receiving from %s again", c.opts.ID, q.name), At: time.Now()})
		}
		down, backoff = false, backoffMin
		if err := c.handle(ctx, q, msgs, h); err != nil {
			return err
		}
	}
	return nil
}

var systemAttributes = []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount,
	types.MessageSystemAttributeNameMessageGroupId}

func (c *consumer) receive(ctx context.Context, q *queue) ([]types.Message, error) {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rctx, a := withAttempts(rctx)
	out, err := c.cl.sqs.ReceiveMessage(rctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(q.url),
		MaxNumberOfMessages: int32(max(c.d.c.MaxMessages, 1)), WaitTimeSeconds: c.wait,
		MessageSystemAttributeNames: systemAttributes})
	if err == nil && a.unsure && c.opts.Notify != nil {
		// An attempt the server may have answered with messages, lost on
		// the way: they stay invisible until their visibility timeout and
		// then come again, after later ones (a reorder the checker counts).
		c.opts.Notify(broker.Notice{Kind: "retried", At: time.Now(), Detail: fmt.Sprintf(
			"consumer %d: receiving from %s took %d attempts (%v); what a lost attempt took comes back after the visibility timeout",
			c.opts.ID, q.name, a.n, a.failed)})
	}
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// handle hands one receive's messages to the handler, then deletes the
// ones it took. On a FIFO queue the swarm gets what was handled before the
// delete unlocks the groups for other consumers.
func (c *consumer) handle(ctx context.Context, q *queue, msgs []types.Message, h broker.Handler) error {
	var acks []types.DeleteMessageBatchRequestEntry
	var failed error
	c.hmu.Lock()
	for i := range msgs {
		m := &msgs[i]
		if failed != nil || ctx.Err() != nil {
			c.hold(q, m)
			continue
		}
		id := aws.ToString(m.MessageId)
		if !q.dead && c.d.isRejected(id) {
			// Rejected for good before: given back until the redrive
			// policy takes it to the dead-letter queue.
			c.giveBack(ctx, q, m)
			continue
		}
		d := c.delivery(q, m)
		switch err := h(&d); {
		case err == nil:
			acks = append(acks, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(len(acks))), ReceiptHandle: m.ReceiptHandle})
			if q.dead {
				c.d.deadLettered(id)
			}
		case errors.Is(err, broker.ErrReject):
			c.giveBack(ctx, q, m)
		case errors.Is(err, broker.ErrDeadLetter):
			if c.dead == nil {
				failed = fmt.Errorf("sqs consumer %d: a dead-letter reject needs broker.sqs.max_receive_count", c.opts.ID)
				c.hold(q, m)
				continue
			}
			c.d.rejectForGood(id)
			c.giveBack(ctx, q, m)
		default:
			// The consumer dies here: nothing of this receive is deleted.
			failed = err
			c.hold(q, m)
			for _, a := range acks {
				c.mu.Lock()
				c.held = append(c.held, held{q, aws.ToString(a.ReceiptHandle)})
				c.mu.Unlock()
			}
			acks = nil
		}
	}
	c.hmu.Unlock()
	if c.d.topo.fifo && c.opts.Handover != nil && failed == nil {
		c.opts.Handover()
	}
	if len(acks) > 0 {
		c.delete(ctx, q, acks)
	}
	return failed
}

// delivery describes m for the handler: its body without a copy, its
// ordering domain, its message id as storage position where that is
// sound, and whether SQS received it before (ApproximateReceiveCount).
//
// On a FIFO queue the domain is the message group, whatever consumer
// reads it (SQS hands a group to one consumer at a time, and the swarm
// gets each batch before its delete lets the next go), and the message id
// is the position. A standard queue promises no order between consumers:
// the domain is the queue as one consumer sees it, and a position counts
// only within one domain, so a standard queue gives positions only when
// the subscription has one consumer (a redelivery to another consumer
// would look stored twice).
func (c *consumer) delivery(q *queue, m *types.Message) broker.Delivery {
	b := aws.ToString(m.Body)
	d := broker.Delivery{Payload: unsafe.Slice(unsafe.StringData(b), len(b)), Domain: c.domain}
	if c.positions {
		d.Position, d.HasPosition = position(aws.ToString(m.MessageId)), true
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 1 {
		d.Redelivered = true
	}
	if c.d.topo.fifo && !q.dead {
		g, ok := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
		if !ok {
			g = c.d.groupOf(d.Payload)
		}
		dom, ok := c.domains[g]
		if !ok {
			dom = q.name + "/" + g
			c.domains[g] = dom
		}
		d.Domain = dom
	}
	if q.dead {
		d.Domain, d.DeadLettered, d.Reason = q.name, true, "max_receive_count"
	}
	return d
}

// position is a message id as a storage position: SQS gives every stored
// copy an id of its own, which redeliveries keep. The id is a 128-bit
// string; its 32-bit FNV-1a hash keeps the checker's position sets compact
// (dense 32-bit bitmaps), at the price that of n messages in a domain a
// copy stored twice is taken for a redelivery with probability n/2^32
// (1 in 4,300 at a million): never a false duplicate, at most a missed
// "stored twice" among the duplicates counted.
func position(id string) uint64 {
	h := fnv.New32a()
	_, _ = h.Write(unsafe.Slice(unsafe.StringData(id), len(id)))
	return uint64(h.Sum32())
}

func (c *consumer) hold(q *queue, m *types.Message) {
	c.mu.Lock()
	c.held = append(c.held, held{q, aws.ToString(m.ReceiptHandle)})
	c.mu.Unlock()
}

// settleCtx is ctx, or once ctx ended a short context of its own: a
// consumer told to stop still settles what it handled.
func settleCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), settleWait)
}

// giveBack makes m visible again at once (a nack).
func (c *consumer) giveBack(ctx context.Context, q *queue, m *types.Message) {
	gctx, cancel := settleCtx(ctx)
	defer cancel()
	_, _ = c.cl.sqs.ChangeMessageVisibility(gctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q.url),
		ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
	// A failed give-back is not retried: the visibility timeout gives the
	// message back all the same.
}

// delete acknowledges the handled messages. A delete that fails is not
// retried: the messages come back after their visibility timeout, as
// redeliveries, which is what SQS does to a consumer whose delete was lost.
func (c *consumer) delete(ctx context.Context, q *queue, acks []types.DeleteMessageBatchRequestEntry) {
	dctx, cancel := settleCtx(ctx)
	defer cancel()
	dctx, cancel2 := context.WithTimeout(dctx, c.d.c.callTimeout(0))
	defer cancel2()
	_, _ = c.cl.sqs.DeleteMessageBatch(dctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: acks})
}

// Close stops Run and gives back what the consumer still held.
func (c *consumer) Close() error {
	c.guard.Close()
	c.mu.Lock()
	hs := c.held
	c.held = nil
	crashed := c.crashed
	c.mu.Unlock()
	if crashed || len(hs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleWait)
	defer cancel()
	for _, h := range hs {
		_, _ = c.cl.sqs.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(h.q.url),
			ReceiptHandle: aws.String(h.receipt), VisibilityTimeout: 0})
	}
	return nil
}

// Crash stops as a killed client would: what the consumer held stays
// invisible until its visibility timeout runs out.
func (c *consumer) Crash() error {
	c.mu.Lock()
	c.crashed = true
	c.held = nil
	c.mu.Unlock()
	c.guard.Close()
	return nil
}
