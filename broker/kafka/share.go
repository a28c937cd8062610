package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqcheck/mqcheck/broker"
)

// shareConsumer is a member of a share group (KIP-932, group_protocol
// share): Kafka's queue. The members of a group share every partition: the
// broker hands each fetch records it locks for that member, and the member
// acknowledges each record: accept (done), release (deliver it again, to any
// member, with its delivery count one higher) or reject (archive it). A
// record neither accepted nor rejected when its member's session ends, or
// its lock times out, is delivered again.
//
// The handler's answer is the record's acknowledgement: nil accepts,
// broker.ErrReject releases (the copy that comes back has a delivery count
// above 1, which is the redelivery flag), broker.ErrDeadLetter fails Run:
// Kafka archives a rejected record and has no dead-letter queue to read it
// back from.
//
// Ordering: a share group promises none across members; the ordering
// domain is a partition as one member sees it ("topic/3@c2"). Storage
// position: the record's offset.
type shareConsumer struct {
	id     int
	group  string
	cl     *kgo.Client
	topic  string
	notify func(broker.Notice)
	conn   *connState
	guard  broker.RunGuard

	d       broker.Delivery
	domains map[int32]string
	parts   []string // shared by the driver's consumers: "topic/partition"
}

var _ broker.Crasher = (*shareConsumer)(nil)

func (d *driver) newShareConsumer(o broker.ConsumerOptions) (*shareConsumer, error) {
	group := d.set.groupName(o.Subscription)
	who := fmt.Sprintf("consumer %d of share group %s", o.ID, group)
	clientID := fmt.Sprintf("mqcheck-%s-s%d-c%d", d.set.runID, o.Subscription, o.ID)
	opts, err := d.set.clientOpts(d.seeds, clientID)
	if err != nil {
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	c := &shareConsumer{
		id:      o.ID,
		group:   group,
		topic:   d.set.consumeTopic(),
		notify:  o.Notify,
		conn:    newConnState(who, int16(kmsg.ShareFetch), o.Notify),
		domains: make(map[int32]string),
		parts:   d.domainCache(),
	}
	opts = append(opts,
		kgo.ShareGroup(group),
		kgo.ConsumeTopics(c.topic),
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.WithHooks(c.conn),
	)
	if d.set.k.Isolation == "read_committed" {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if c.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	d.addSubscription(o.Subscription)
	return c, nil
}

// domain is "topic/partition@c<consumer>", cached per partition.
func (c *shareConsumer) domain(p int32) string {
	if s, ok := c.domains[p]; ok {
		return s
	}
	s := c.partition(p) + "@c" + strconv.Itoa(c.id)
	c.domains[p] = s
	return s
}

// partition is "topic/partition", where offsets are unique.
func (c *shareConsumer) partition(p int32) string {
	for int(p) >= len(c.parts) {
		c.parts = append(c.parts[:len(c.parts):len(c.parts)], c.topic+"/"+strconv.Itoa(len(c.parts)))
	}
	return c.parts[p]
}

// Run polls and acknowledges each record with the handler's answer until
// ctx ends or Close.
func (c *shareConsumer) Run(ctx context.Context, h broker.Handler) error {
	ctx, end, err := c.guard.Begin(ctx)
	if err != nil {
		return fmt.Errorf("running kafka consumer %d: %w", c.id, err)
	}
	defer end()
	for {
		fs := c.cl.PollRecords(ctx, maxPollRecords)
		if fs.IsClientClosed() || ctx.Err() != nil && fs.NumRecords() == 0 {
			return nil
		}
		if err := c.fetchErrors(fs); err != nil {
			return err
		}
		if err := c.handle(ctx, fs, h); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// handle runs h over one poll. What it does not reach (ctx ended, the
// handler failed) stays unacknowledged: Close releases it.
func (c *shareConsumer) handle(ctx context.Context, fs kgo.Fetches, h broker.Handler) error {
	c.d.SameFetch = false // the first record of the poll
	it := fs.RecordIter()
	for !it.Done() {
		if ctx.Err() != nil {
			return nil
		}
		r := it.Next()
		c.d.Payload = r.Value
		c.d.Domain = c.domain(r.Partition)
		c.d.Position, c.d.HasPosition, c.d.PositionDomain = uint64(r.Offset), true, c.partition(r.Partition)
		c.d.Redelivered = r.DeliveryCount() > 1
		err := h(&c.d)
		c.d.Payload = nil
		c.d.SameFetch = true
		switch {
		case err == nil:
			r.Ack(kgo.AckAccept)
		case errors.Is(err, broker.ErrReject):
			r.Ack(kgo.AckRelease)
		case errors.Is(err, broker.ErrDeadLetter):
			return fmt.Errorf("kafka consumer %d: %s offset %d: a share group archives rejected records, it has no dead-letter queue (use a requeue fail action)",
				c.id, c.d.Domain, r.Offset)
		default:
			return fmt.Errorf("kafka consumer %d handling %s offset %d: %w", c.id, c.d.Domain, r.Offset, err)
		}
	}
	return nil
}

// fetchErrors reports errors no retry fixes, as the group consumer's do.
func (c *shareConsumer) fetchErrors(fs kgo.Fetches) error {
	var fatal error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) ||
			kgo.IsRetryableBrokerErr(err) {
			return
		}
		notice(c.notify, "fetch-error", fmt.Sprintf("consumer %d of share group %s: %s/%d: %v", c.id, c.group, t, p, err))
		var ke *kerr.Error
		if errors.As(err, &ke) && (ke == kerr.TopicAuthorizationFailed || ke == kerr.GroupAuthorizationFailed) && fatal == nil {
			fatal = fmt.Errorf("kafka consumer %d of share group %s: %w", c.id, c.group, err)
		}
	})
	return fatal
}

// Close stops Run and leaves the share group; franz-go releases what was
// polled and not acknowledged, so another member gets it.
func (c *shareConsumer) Close() error {
	if !c.guard.Close() {
		return nil
	}
	c.conn.closing.Store(true)
	c.cl.Close()
	return nil
}

// Crash stops the consumer with the delivery it failed on unacknowledged:
// leaving releases it (and the rest of its poll), so another member gets
// it again, flagged by its delivery count. A killed member's records come
// back the same way when its session ends.
func (c *shareConsumer) Crash() error { return c.Close() }

// shareAutoOffsetReset makes a share group start at the beginning of the
// topic: by default it would deliver only what is written after it first
// fetches.
func (d *driver) shareAutoOffsetReset(ctx context.Context) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for sub := range d.set.subs {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType = kmsg.ConfigResourceTypeGroupConfig
		r.ResourceName = d.set.groupName(sub)
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name = "share.auto.offset.reset"
		cfg.Value = kmsg.StringPtr("earliest")
		r.Configs = append(r.Configs, cfg)
		req.Resources = append(req.Resources, r)
	}
	resp, err := req.RequestWith(ctx, d.admCl)
	if err != nil {
		return fmt.Errorf("setting share.auto.offset.reset of the share groups: %w", err)
	}
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("setting share.auto.offset.reset of share group %s: %w", r.ResourceName, err)
		}
	}
	return nil
}
