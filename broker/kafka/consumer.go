package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqcheck/mqcheck/broker"
)

// consumer is one member of the consumer group of its subscription.
//
// Commits. A poll's records are all handled before the next poll, and
// BlockRebalanceOnPoll keeps rebalances out until they are, so a revoke always
// sees a finished poll (or a Run that stopped early, see handled).
//   - manual: after the handler returned, the poll's last record of each
//     partition is marked (AutoCommitMarks); franz-go commits marks every
//     second, and the revoke callback commits them before the partitions
//     move, so a rebalance causes no duplicates.
//   - auto: franz-go's autocommit commits what earlier polls returned, every
//     second; the revoke callback commits what this consumer handled.
//
// Either way a consumer that dies loses at most its last second of commits:
// the next owner reads those records again (duplicates, never loss).
//
// Rejects. Kafka has no nack, so the driver emulates a requeue the way Kafka
// applications retry: when the handler returns broker.ErrReject it seeks the
// partition back to that record (SetOffsets, from the polling goroutine while
// rebalances are blocked, as franz-go asks), skips the partition's later
// records of the poll, and the record is fetched from the broker again, ahead
// of those later records. Commits never pass a rejected record. Kafka has no
// redelivery flag either: Redelivered is set by the driver on the copy it
// re-reads after a reject, and only there (a record read again after a
// rebalance or a crash cannot be told apart). broker.ErrDeadLetter makes Run
// fail: Kafka has no dead-letter queue.
type consumer struct {
	id      int
	group   string
	cl      *kgo.Client
	topic   string
	manual  bool
	notify  func(broker.Notice)
	conn    *connState
	domains []string // shared by the driver's consumers; grown privately

	// handover is ConsumerOptions.Handover, called before revoked or lost
	// partitions move to another member.
	handover func()

	d     broker.Delivery // reused for every record
	last  []*kgo.Record   // per partition: the poll's last handled record
	lastP []int32         // partitions with a last record in this poll
	marks []*kgo.Record   // reused for MarkCommitRecords
	// Rejects, touched only by Run's goroutine: partitions sought back in
	// this poll, and the offset each partition was sought back to.
	skip       []bool
	skipP      []int32
	rejectedAt map[int32]int64

	guard broker.RunGuard

	mu      sync.Mutex
	handled map[int32]kgo.EpochOffset // auto: next offset to commit, per partition
	crashed bool                      // Crash: commit nothing more, not even on revoke
}

var _ broker.Crasher = (*consumer)(nil)

func (d *driver) newConsumer(o broker.ConsumerOptions) (*consumer, error) {
	group := d.set.groupName(o.Subscription)
	who := fmt.Sprintf("consumer %d of %s", o.ID, group)
	clientID := fmt.Sprintf("mqcheck-%s-s%d-c%d", d.set.runID, o.Subscription, o.ID)
	opts, err := d.set.clientOpts(d.seeds, clientID)
	if err != nil {
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	c := &consumer{
		id:         o.ID,
		group:      group,
		topic:      d.set.consumeTopic(),
		manual:     d.set.k.Commit == "manual",
		notify:     o.Notify,
		handover:   o.Handover,
		conn:       newConnState(who, int16(kmsg.Fetch), o.Notify),
		domains:    d.domainCache(),
		handled:    make(map[int32]kgo.EpochOffset),
		rejectedAt: make(map[int32]int64),
	}
	opts = append(opts, d.set.consumerOpts(group)...)
	opts = append(opts,
		kgo.WithHooks(c.conn),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	)
	if c.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	d.addSubscription(o.Subscription)
	return c, nil
}

// domain returns the cached "topic/partition" string.
func (c *consumer) domain(p int32) string {
	if int(p) < len(c.domains) {
		return c.domains[p]
	}
	// Partitions added after Setup: grow a private copy once.
	for i := len(c.domains); i <= int(p); i++ {
		c.domains = append(c.domains, fmt.Sprintf("%s/%d", c.topic, i))
	}
	return c.domains[p]
}

// Run polls and hands every record to h until ctx ends, Close is called or a
// fetch error means the consumer cannot go on (authorization).
func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	ctx, end, err := c.guard.Begin(ctx)
	if err != nil {
		return fmt.Errorf("running kafka consumer %d: %w", c.id, err)
	}
	defer end()

	for {
		fs := c.cl.PollRecords(ctx, maxPollRecords)
		if fs.IsClientClosed() || ctx.Err() != nil && fs.NumRecords() == 0 {
			c.cl.AllowRebalance()
			return nil
		}
		if err := c.fetchErrors(fs); err != nil {
			c.cl.AllowRebalance()
			return err
		}
		err := c.handle(ctx, fs, h)
		c.settle()
		c.cl.AllowRebalance()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// handle runs h over one poll, in order, and stops early when ctx ends.
func (c *consumer) handle(ctx context.Context, fs kgo.Fetches, h broker.Handler) error {
	defer c.endSkips()
	c.d.SameFetch = false // the first record of the poll
	it := fs.RecordIter()
	for !it.Done() {
		if ctx.Err() != nil {
			return nil
		}
		r := it.Next()
		p := r.Partition
		if int(p) < len(c.skip) && c.skip[p] {
			continue // fetched again after the reject
		}
		at, sought := c.rejectedAt[p]
		c.d.Payload = r.Value
		c.d.Domain = c.domain(p)
		c.d.Position, c.d.HasPosition = uint64(r.Offset), true
		c.d.Redelivered = sought && at == r.Offset
		err := h(&c.d)
		c.d.Payload = nil
		c.d.SameFetch = true
		switch {
		case err == nil:
			if c.d.Redelivered {
				delete(c.rejectedAt, p)
			}
		case errors.Is(err, broker.ErrReject):
			c.seekBack(r)
			continue
		case errors.Is(err, broker.ErrDeadLetter):
			return fmt.Errorf("kafka consumer %d: %s offset %d: kafka has no dead-letter queue (use a requeue fail action)", c.id, c.d.Domain, r.Offset)
		default:
			return fmt.Errorf("kafka consumer %d handling %s offset %d: %w", c.id, c.d.Domain, r.Offset, err)
		}
		for int(p) >= len(c.last) {
			c.last = append(c.last, nil)
		}
		if c.last[p] == nil {
			c.lastP = append(c.lastP, p)
		}
		c.last[p] = r
	}
	return nil
}

// seekBack makes franz-go fetch r again, and this poll skip what follows r
// in its partition. Allocates, but only per reject.
func (c *consumer) seekBack(r *kgo.Record) {
	p := r.Partition
	c.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{
		r.Topic: {p: {Epoch: r.LeaderEpoch, Offset: r.Offset}},
	})
	c.rejectedAt[p] = r.Offset
	for int(p) >= len(c.skip) {
		c.skip = append(c.skip, false)
	}
	c.skip[p] = true
	c.skipP = append(c.skipP, p)
}

func (c *consumer) endSkips() {
	for _, p := range c.skipP {
		c.skip[p] = false
	}
	c.skipP = c.skipP[:0]
}

// settle records what a poll handled: marks in manual mode, the handled
// offsets in auto mode. Once per poll, never per record.
func (c *consumer) settle() {
	if len(c.lastP) == 0 {
		return
	}
	if c.manual {
		c.marks = c.marks[:0]
		for _, p := range c.lastP {
			c.marks = append(c.marks, c.last[p])
		}
		c.cl.MarkCommitRecords(c.marks...)
		clear(c.marks)
	} else {
		c.mu.Lock()
		for _, p := range c.lastP {
			r := c.last[p]
			c.handled[p] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		}
		c.mu.Unlock()
	}
	for _, p := range c.lastP {
		c.last[p] = nil
	}
	c.lastP = c.lastP[:0]
}

// fetchErrors reports what franz-go could not retry by itself, and gives up
// on authorization errors, which no retry fixes. Connection errors (also
// those a failed group session carries) are the "disconnected" notices'
// business, not this one's.
func (c *consumer) fetchErrors(fs kgo.Fetches) error {
	var fatal error
	fs.EachError(func(t string, p int32, err error) {
		var opErr *net.OpError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) ||
			kgo.IsRetryableBrokerErr(err) || errors.As(err, &opErr) {
			return
		}
		where := fmt.Sprintf("%s/%d", t, p)
		if t == "" {
			where = "group " + c.group
		}
		c.send("fetch-error", fmt.Sprintf("consumer %d of %s: %s: %v", c.id, c.group, where, err))
		var ke *kerr.Error
		if errors.As(err, &ke) && (ke == kerr.TopicAuthorizationFailed || ke == kerr.GroupAuthorizationFailed ||
			ke == kerr.SaslAuthenticationFailed || ke == kerr.ClusterAuthorizationFailed) && fatal == nil {
			fatal = fmt.Errorf("kafka consumer %d of %s: fetching %s: %w", c.id, c.group, where, err)
		}
	})
	return fatal
}

func (c *consumer) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.rebalance("assigned", m)
}

// revoked commits before the partitions move, so their next owner starts
// where this one stopped.
func (c *consumer) revoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	c.handOver(m)
	c.mu.Lock()
	crashed := c.crashed
	c.mu.Unlock()
	var err error
	switch {
	case crashed:
		// A killed client commits nothing on its way out.
	case c.manual:
		err = cl.CommitMarkedOffsets(ctx)
	default:
		err = c.commitHandled(ctx, cl, m)
	}
	if err != nil {
		c.send("commit-error", fmt.Sprintf("consumer %d of %s: committing on revoke: %v", c.id, c.group, err))
	}
	c.forget(m)
	c.rebalance("revoked", m)
}

func (c *consumer) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.handOver(m)
	c.forget(m)
	c.rebalance("lost", m)
}

// handOver lets the swarm hand over what it received before partitions of
// the topic move to another member. franz-go calls revoke and lost between
// polls (rebalances are blocked while a poll is handled), so every record
// of those partitions this consumer will handle has been handled.
func (c *consumer) handOver(m map[string][]int32) {
	if c.handover != nil && len(m[c.topic]) > 0 {
		c.handover()
	}
}

func (c *consumer) commitHandled(ctx context.Context, cl *kgo.Client, m map[string][]int32) error {
	c.mu.Lock()
	offsets := make(map[int32]kgo.EpochOffset)
	for _, p := range m[c.topic] {
		if o, ok := c.handled[p]; ok {
			offsets[p] = o
		}
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	var rerr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{c.topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				rerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil && rerr == nil {
						rerr = err
					}
				}
			}
		})
	return rerr
}

func (c *consumer) forget(m map[string][]int32) {
	c.mu.Lock()
	for _, p := range m[c.topic] {
		delete(c.handled, p)
	}
	c.mu.Unlock()
}

// rebalance reports one step of a rebalance; franz-go also calls revoke at
// the end of every group session with nothing in it, which is no news.
func (c *consumer) rebalance(what string, m map[string][]int32) {
	ps := m[c.topic]
	if len(ps) == 0 {
		return
	}
	ps = slices.Clone(ps)
	slices.Sort(ps)
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s/%d", c.topic, p)
	}
	c.send("rebalance", fmt.Sprintf("consumer %d of %s %s %s", c.id, c.group, what, b.String()))
}

func (c *consumer) send(kind, detail string) { notice(c.notify, kind, detail) }

// notice hands notify (if any) a notice of kind.
func notice(notify func(broker.Notice), kind, detail string) {
	if notify != nil {
		notify(broker.Notice{Kind: kind, Detail: detail, At: time.Now()})
	}
}

// Close stops Run, then leaves the group: the final revoke commits what was
// handled; what was fetched and not handled is read again by the next owner.
func (c *consumer) Close() error {
	if !c.guard.Close() {
		return nil
	}
	c.conn.closing.Store(true)
	c.cl.CloseAllowingRebalance()
	return nil
}

// Crash stops the consumer as a killed client would stop: it commits
// nothing more, so the records it handled since the last periodic commit
// (at most autoCommitInterval) are read again by the partitions' next
// owner. It still leaves the group at once; a killed Kafka client leaves
// its partitions idle until its session times out (10 s here) instead,
// which only delays the re-reads.
func (c *consumer) Crash() error {
	c.mu.Lock()
	c.crashed = true
	c.mu.Unlock()
	return c.Close()
}
