package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
)

// driver runs the swarm on one Redis stream: producers XADD to it, each
// subscription is a consumer group on it.
type driver struct {
	cfg    *Config
	spec   broker.Spec
	env    broker.Env
	newCli func() goredis.UniversalClient
	admin  goredis.UniversalClient
	key    string
	groups []string

	// trimNoticed: the notice that MAXLEN trimmed entries was given.
	trimNoticed atomic.Bool
	// producers open: none once the load is over, when trimming stops.
	producers atomic.Int64
	// incarnations counts the consumers made per swarm consumer id: each
	// gets a name of its own (c<id>.<n>), so that one started in place of
	// a crashed one does not inherit its pending entries by name.
	mu           sync.Mutex
	incarnations map[int]int
}

var _ broker.Backlogger = (*driver)(nil)

func newDriver(cfg *Config, spec broker.Spec, env broker.Env, newCli func() goredis.UniversalClient) *driver {
	key := spec.Destination
	if key == "" {
		key = "mqcheck-" + env.RunID
	}
	n := max(spec.Subscriptions, 1)
	d := &driver{cfg: cfg, spec: spec, env: env, newCli: newCli, admin: newCli(), key: key, incarnations: map[int]int{}}
	for i := range n {
		d.groups = append(d.groups, key+"-g"+strconv.Itoa(i))
	}
	return d
}

func (d *driver) timeout() time.Duration { return d.cfg.RequestTimeout.D() }

// Setup creates the stream and one consumer group per subscription, each
// reading from the stream's start.
func (d *driver) Setup(ctx context.Context) error {
	if d.cfg.pubsub() {
		// A channel needs no setup; check the server answers.
		if err := d.admin.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("reaching redis: %w", err)
		}
		return nil
	}
	for _, g := range d.groups {
		if err := createGroup(ctx, d.admin, d.key, g); err != nil {
			return err
		}
	}
	return nil
}

// createGroup creates group on key from its first entry, and the stream
// if it is missing; a group that exists is fine.
func createGroup(ctx context.Context, c goredis.UniversalClient, key, group string) error {
	err := c.XGroupCreateMkStream(ctx, key, group, "0").Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("creating consumer group %s on stream %s: %w", group, key, err)
	}
	return nil
}

// Close deletes the stream (and its groups) unless the scenario keeps it.
func (d *driver) Close(ctx context.Context) error {
	var err error
	if !d.spec.Keep {
		cctx, cancel := context.WithTimeout(ctx, d.timeout())
		if derr := d.admin.Del(cctx, d.key).Err(); derr != nil {
			err = fmt.Errorf("deleting stream %s: %w", d.key, derr)
		}
		cancel()
	}
	return errors.Join(err, d.admin.Close())
}

// Backlog is what the groups have not consumed: entries pending (read, not
// acknowledged) plus entries past each group's last delivered id. A stream
// that is gone (a restart without persistence) holds nothing to deliver.
// Once the load is over and nothing is left, it tells the run what MAXLEN
// trimmed.
func (d *driver) Backlog(ctx context.Context) (int64, error) {
	if d.cfg.pubsub() {
		// Pub/sub stores nothing: what a subscriber has not received
		// will never come.
		return 0, nil
	}
	n, err := d.backlog(ctx)
	if err == nil && n == 0 && d.producers.Load() == 0 {
		d.noticeTrimmed(ctx)
	}
	return n, err
}

func (d *driver) backlog(ctx context.Context) (int64, error) {
	infos, err := d.admin.XInfoGroups(ctx, d.key).Result()
	if err != nil {
		if goredis.HasErrorPrefix(err, "ERR no such key") {
			return 0, nil
		}
		return 0, fmt.Errorf("reading the groups of stream %s: %w", d.key, err)
	}
	var total int64
	for _, g := range d.groups {
		var info *goredis.XInfoGroup
		for i := range infos {
			if infos[i].Name == g {
				info = &infos[i]
			}
		}
		if info == nil {
			// The stream came back without the group (a restart without
			// persistence, then a producer's XADD): every entry is unread.
			n, err := d.admin.XLen(ctx, d.key).Result()
			if err != nil {
				return 0, fmt.Errorf("reading the length of stream %s: %w", d.key, err)
			}
			total += n
			continue
		}
		total += info.Pending
		after, err := d.admin.XRangeN(ctx, d.key, "("+info.LastDeliveredID, "+", backlogScan).Result()
		if err != nil {
			return 0, fmt.Errorf("reading stream %s after %s: %w", d.key, info.LastDeliveredID, err)
		}
		total += int64(len(after))
	}
	return total, nil
}

// backlogScan bounds the entries Backlog reads past a group's position:
// the drain needs to know 0 from more, not the exact figure.
const backlogScan = 1000

// noticeTrimmed tells the run, once, how many entries MAXLEN trimmed:
// entries added minus entries left (the driver never deletes any). Those
// no group read before they went are among the run's lost messages.
func (d *driver) noticeTrimmed(ctx context.Context) {
	if d.cfg.MaxLen == 0 || d.env.Notify == nil || d.trimNoticed.Load() {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	info, err := d.admin.XInfoStream(cctx, d.key).Result()
	if err != nil || info.EntriesAdded <= info.Length {
		return
	}
	if d.trimNoticed.Swap(true) {
		return
	}
	how := "="
	if d.cfg.MaxLenApprox {
		how = "~"
	}
	d.env.Notify(broker.Notice{Kind: "trimmed", Warning: true, At: time.Now(), Detail: fmt.Sprintf(
		"MAXLEN %s %d trimmed %d of the %d entries added to stream %s: those no group had read are lost by policy (the stream's maxlen), not by a broker failure",
		how, d.cfg.MaxLen, info.EntriesAdded-info.Length, info.EntriesAdded, d.key)})
}

// classify maps a command's error to a publish outcome: an error reply from
// the server is a refusal, anything else (a timeout, a lost connection) may
// have been stored.
func classify(err error) broker.Outcome {
	if err == nil {
		return broker.Acked
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		return broker.Failed
	}
	// A connection that could not be made sent nothing.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return broker.Failed
	}
	return broker.Indeterminate
}

// producer publishes with XADD, pipelined: one goroutine sends what is
// waiting, up to pipeMax commands in one round trip, one round trip at a
// time (the stream keeps the producer's order), and completes them in
// order. Publish only queues: the swarm bounds what is in flight.
type producer struct {
	d    *driver
	cli  goredis.UniversalClient
	o    broker.ProducerOptions
	wake chan struct{} // a send is waiting (capacity 1)
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex // guards queue and closed
	queue  []*broker.Message
	closed bool

	pending atomic.Int64
}

const pipeMax = 256

func (d *driver) NewProducer(_ context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	p := &producer{d: d, cli: d.newCli(), o: o, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	d.producers.Add(1)
	go p.loop()
	return p, nil
}

var errProducerClosed = errors.New("producer closed")

func (p *producer) Publish(_ context.Context, m *broker.Message) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errProducerClosed
	}
	p.queue = append(p.queue, m)
	p.pending.Add(1)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *producer) loop() {
	defer close(p.done)
	var batch []*broker.Message // taken from the queue, not yet sent
	cmds := make([]goredis.Cmder, 0, pipeMax)
	for {
		if len(batch) == 0 {
			select {
			case <-p.wake:
			case <-p.stop:
				return
			}
		} else {
			select {
			case <-p.stop:
				// Close completes what is queued: the batch goes back
				// in front, in order.
				p.mu.Lock()
				p.queue = append(batch, p.queue...)
				p.mu.Unlock()
				return
			default:
			}
		}
		// Top the batch up with what was published during the last round
		// trip, so that each round trip carries a full pipeline while the
		// load lasts (sending what was taken in chunks of pipeMax left a
		// short pipeline at the end of each take: 221 entries a round trip
		// on average instead of 256).
		p.mu.Lock()
		if len(batch) == 0 {
			batch, p.queue = p.queue, batch
		} else {
			batch = append(batch, p.queue...)
			clear(p.queue)
			p.queue = p.queue[:0]
		}
		p.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		n := min(len(batch), pipeMax)
		var werr error
		cmds, werr = p.send(batch[:n], cmds[:0])
		for i, m := range batch[:n] {
			err := cmds[i].Err()
			o := classify(err)
			if o == broker.Acked && werr != nil {
				o, err = broker.Indeterminate, werr
			}
			p.o.OnComplete(m, o, err)
			p.pending.Add(-1)
		}
		left := copy(batch, batch[n:])
		clear(batch[left:])
		batch = batch[:left]
	}
}

// send pipelines one XADD per message. MaxRetries is off on producers'
// clients: a command resent after a lost answer would store the entry
// twice.
//
// With wait_replicas the pipeline ends with WAIT: entries it does not
// confirm on enough replicas come back with an error (indeterminate: the
// primary has them, a failover may lose them).
func (p *producer) send(batch []*broker.Message, cmds []goredis.Cmder) ([]goredis.Cmder, error) {
	wait := p.d.cfg.WaitReplicas
	ctx, cancel := context.WithTimeout(context.Background(), p.d.timeout()+p.d.cfg.WaitTimeout.D())
	defer cancel()
	pipe := p.cli.Pipeline()
	for _, m := range batch {
		args := p.args(m)
		var cmd goredis.Cmder
		if p.d.cfg.pubsub() {
			cmd = goredis.NewIntCmd(ctx, args...)
		} else {
			cmd = goredis.NewStringCmd(ctx, args...)
		}
		_ = pipe.Process(ctx, cmd)
		cmds = append(cmds, cmd)
	}
	var w *goredis.Cmd
	if wait > 0 {
		w = pipe.Do(ctx, "WAIT", wait, p.d.cfg.WaitTimeout.D().Milliseconds())
	}
	_, _ = pipe.Exec(ctx)
	if w == nil {
		return cmds, nil
	}
	switch got, err := w.Int64(); {
	case err != nil:
		return cmds, fmt.Errorf("WAIT %d replicas: %w", wait, err)
	case got < int64(wait):
		return cmds, fmt.Errorf("WAIT: %d of %d replicas confirmed within %s", got, wait, p.d.cfg.WaitTimeout.D())
	}
	return cmds, nil
}

// pubArgs is the driver's record of one message (its Private): the
// arguments of its XADD or PUBLISH, made once for the swarm's reused
// message, so that a publish boxes nothing and builds no argument list:
// one allocation per entry (its command) where go-redis's XAdd makes six,
// and building a pipeline of 256 took a tenth of each round trip.
type pubArgs struct {
	payload []byte // what args holds; the swarm reuses one buffer per message
	args    []any
}

// args returns m's command arguments, made again only when the message
// carries another buffer than when they were made.
func (p *producer) args(m *broker.Message) []any {
	r, _ := m.Private.(*pubArgs)
	if r != nil && len(r.payload) == len(m.Payload) && (len(m.Payload) == 0 || &r.payload[0] == &m.Payload[0]) {
		return r.args
	}
	if r == nil {
		r = &pubArgs{}
		m.Private = r
	}
	r.payload = m.Payload
	if p.d.cfg.pubsub() {
		r.args = append(r.args[:0], "publish", p.d.key, m.Payload)
		return r.args
	}
	// As go-redis's XAdd writes them: XADD key [MAXLEN ~|= n] * m payload.
	r.args = append(r.args[:0], "xadd", p.d.key)
	if n := p.d.cfg.MaxLen; n > 0 {
		how := "="
		if p.d.cfg.MaxLenApprox {
			how = "~"
		}
		r.args = append(r.args, "maxlen", how, n)
	}
	r.args = append(r.args, "*", "m", m.Payload)
	return r.args
}

func (p *producer) Flush(ctx context.Context) error { return broker.WaitCompleted(ctx, &p.pending) }

// Close stops the loop after the round trip under way and completes what
// is still queued as indeterminate.
func (p *producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	p.d.producers.Add(-1)
	p.mu.Lock()
	left := p.queue
	p.queue = nil
	p.mu.Unlock()
	for _, m := range left {
		p.o.OnComplete(m, broker.Indeterminate, errors.New("producer closed before the message was sent"))
		p.pending.Add(-1)
	}
	return p.cli.Close()
}

// consumer reads its group with XREADGROUP, acknowledges with XACK after
// the handler, and claims entries idle for min_idle with XAUTOCLAIM.
type consumer struct {
	d      *driver
	cli    goredis.UniversalClient
	o      broker.ConsumerOptions
	group  string
	name   string
	domain string
	guard  broker.RunGuard
	crash  atomic.Bool
	// claimFrom is where the next XAUTOCLAIM scan starts; ownFrom where
	// the next read of the consumer's own pending entries does.
	claimFrom, ownFrom string
	lastClaim          time.Time
	// unacked is what the last batch left pending when the handler
	// failed (a crash), for the crash's notice.
	unacked atomic.Int64
}

var _ broker.Crasher = (*consumer)(nil)

func (d *driver) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	if o.Subscription < 0 || o.Subscription >= len(d.groups) {
		return nil, fmt.Errorf("subscription %d: the run has %d", o.Subscription, len(d.groups))
	}
	if d.cfg.pubsub() {
		return d.newSubscriber(ctx, o)
	}
	d.mu.Lock()
	d.incarnations[o.ID]++
	name := "c" + strconv.Itoa(o.ID) + "." + strconv.Itoa(d.incarnations[o.ID])
	d.mu.Unlock()
	return &consumer{d: d, cli: d.newCli(), o: o, group: d.groups[o.Subscription], name: name,
		domain: d.key + "@" + name, claimFrom: "0-0", ownFrom: "0-0"}, nil
}

// Run delivers, in turn: the consumer's own pending entries (read before a
// restart of the consumer or the server), entries other consumers left
// idle (autoclaim), and new entries.
func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	ctx, end, err := c.guard.Begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	own := true
	backoff := 50 * time.Millisecond
	down := false
	for ctx.Err() == nil {
		err := c.round(ctx, h, &own)
		switch {
		case err == nil:
			if down {
				down = false
				c.notify("reconnected", "reading group "+c.group+" again")
			}
			backoff = 50 * time.Millisecond
			continue
		case ctx.Err() != nil:
			return nil
		case errors.As(err, new(handlerError)):
			var h handlerError
			errors.As(err, &h)
			return h.err
		case goredis.HasErrorPrefix(err, "NOGROUP"):
			// The server lost the stream or the group (restarted without
			// persistence): make it again, from the stream's start.
			if cerr := createGroup(ctx, c.cli, c.d.key, c.group); cerr == nil {
				c.notify("group-recreated", fmt.Sprintf("group %s of stream %s was gone; created again from the stream's start", c.group, c.d.key))
				own, c.ownFrom = true, "0-0"
				continue
			}
		}
		if !down {
			down = true
			c.notify("disconnected", err.Error())
		}
		// Back on the server, read the entries this consumer read before
		// and whose acknowledgement may not have arrived.
		own, c.ownFrom = true, "0-0"
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

// handlerError carries the handler's error out of a round: Run returns it
// as it is.
type handlerError struct{ err error }

func (e handlerError) Error() string { return "handler failed: " + e.err.Error() }

func (c *consumer) notify(kind, detail string) {
	if c.o.Notify != nil {
		c.o.Notify(broker.Notice{Kind: kind, Detail: fmt.Sprintf("consumer %d of %s: %s", c.o.ID, c.group, detail), At: time.Now()})
	}
}

// round does one read and delivers what it got.
func (c *consumer) round(ctx context.Context, h broker.Handler, own *bool) error {
	count := int64(*c.d.cfg.Count)
	if *own {
		// Entries this consumer read before and never acknowledged: a
		// redelivery, in the order they were first read.
		msgs, err := c.read(ctx, c.ownFrom, 0)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			*own = false
			return nil
		}
		c.ownFrom = msgs[len(msgs)-1].ID
		return c.deliver(ctx, h, msgs, true)
	}
	if c.d.cfg.autoclaim() {
		idle := c.d.cfg.MinIdle.D()
		if time.Since(c.lastClaim) >= idle/2 {
			c.lastClaim = time.Now()
			cctx, cancel := context.WithTimeout(ctx, c.d.timeout())
			msgs, next, err := c.cli.XAutoClaim(cctx, &goredis.XAutoClaimArgs{Stream: c.d.key, Group: c.group,
				Consumer: c.name, MinIdle: idle, Start: c.claimFrom, Count: count}).Result()
			cancel()
			if err != nil {
				return fmt.Errorf("claiming idle entries of %s: %w", c.group, err)
			}
			c.claimFrom = next
			if next != "0-0" {
				// More to scan: come back at once.
				c.lastClaim = time.Time{}
			}
			if len(msgs) > 0 {
				c.notify("claimed", fmt.Sprintf("claimed %d entries other consumers left pending for %s or more (XAUTOCLAIM); delivered flagged redelivered", len(msgs), idle))
				return c.deliver(ctx, h, msgs, true)
			}
		}
	}
	msgs, err := c.read(ctx, ">", c.d.cfg.Block.D())
	if err != nil {
		return err
	}
	return c.deliver(ctx, h, msgs, false)
}

func (c *consumer) read(ctx context.Context, from string, block time.Duration) ([]goredis.XMessage, error) {
	a := &goredis.XReadGroupArgs{Group: c.group, Consumer: c.name, Streams: []string{c.d.key, from},
		Count: int64(*c.d.cfg.Count), Block: block}
	if block == 0 {
		// go-redis sends BLOCK only for a non-negative value: -1 leaves it
		// out (a pending-list read never blocks).
		a.Block = -1
	}
	cctx, cancel := context.WithTimeout(ctx, c.d.timeout()+block)
	defer cancel()
	res, err := c.cli.XReadGroup(cctx, a).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading group %s: %w", c.group, err)
	}
	var out []goredis.XMessage
	for _, s := range res {
		out = append(out, s.Messages...)
	}
	return out, nil
}

// deliver hands entries to h and acknowledges the ones it took. A rejected
// entry stays pending: a consumer claims it after min_idle. A handler
// error stops the consumer without acknowledging anything more, as a
// crash.
func (c *consumer) deliver(ctx context.Context, h broker.Handler, msgs []goredis.XMessage, redelivered bool) error {
	ids := make([]string, 0, len(msgs))
	var herr error
	for _, m := range msgs {
		if c.crash.Load() {
			return nil
		}
		payload, ok := m.Values["m"].(string)
		if !ok {
			// A claimed entry that was deleted (trimmed) has no fields; a
			// foreign entry has others: acknowledge it out of the way.
			if len(m.Values) == 0 {
				ids = append(ids, m.ID)
				continue
			}
			payload = fmt.Sprint(m.Values)
		}
		// A view of go-redis's string, not a copy (an allocation and a
		// copy of every entry): a delivery's payload is only read, and
		// only during the handler.
		dv := broker.Delivery{Payload: unsafe.Slice(unsafe.StringData(payload), len(payload)), Domain: c.domain, Redelivered: redelivered, PositionDomain: c.d.key}
		dv.Position, dv.HasPosition = position(m.ID)
		err := h(&dv)
		switch {
		case err == nil:
			ids = append(ids, m.ID)
		case errors.Is(err, broker.ErrReject):
		case errors.Is(err, broker.ErrDeadLetter):
			herr = errors.New("redis streams have no dead-letter queue: a delivery cannot be rejected for good")
		default:
			herr = err
		}
		if herr != nil {
			break
		}
	}
	if herr != nil {
		c.unacked.Store(int64(len(msgs)))
		return handlerError{herr}
	}
	if len(ids) == 0 || c.crash.Load() {
		return nil
	}
	// The handler took them: acknowledge even when the run is ending, or
	// they would come again to the next reader.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.d.timeout())
	defer cancel()
	if err := c.cli.XAck(actx, c.d.key, c.group, ids...).Err(); err != nil {
		return fmt.Errorf("acknowledging %d entries of %s: %w", len(ids), c.group, err)
	}
	return nil
}

// position packs an entry id (milliseconds-sequence) into one number:
// 42 bits of milliseconds, 22 of sequence; false when it does not fit.
func position(id string) (uint64, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil || a >= 1<<42 || b >= 1<<22 {
		return 0, false
	}
	return a<<22 | b, true
}

// Crash stops the consumer as a killed client would: what it read and did
// not acknowledge stays pending in its name.
func (c *consumer) Crash() error {
	c.crash.Store(true)
	err := c.Close()
	n := c.unacked.Load()
	what := "they come back only when another consumer claims them (XAUTOCLAIM)"
	if !c.d.cfg.autoclaim() {
		what = "autoclaim is off: nothing will claim them"
	}
	c.notify("crashed", fmt.Sprintf("crashed as %s with %d entries of its last read pending (read, not acknowledged); %s", c.name, n, what))
	return err
}

func (c *consumer) Close() error {
	if !c.guard.Close() {
		return nil
	}
	return c.cli.Close()
}
