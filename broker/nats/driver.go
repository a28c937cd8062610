package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqcheck/mqcheck/broker"
)

// driver is one run's use of a NATS server (or cluster): its stream and
// durable consumers in jetstream mode, a subject in core mode.
type driver struct {
	c       *Config
	spec    broker.Spec
	env     broker.Env
	servers string
	auth    []nats.Option // credentials of a url target
	stream  string        // also the subject
	created bool          // the run created the stream (Close deletes it)
	leader  string        // the server that must lead the stream ("": any)

	admin *nats.Conn
	js    jetstream.JetStream

	// Deliberate re-sends (duplicate_sends): left to make, accepted, and
	// dropped by the stream as duplicates.
	dupLeft, dupSent, dupDropped atomic.Int64
	discardsSaid                 atomic.Bool
	goneSaid                     atomic.Bool

	mu   sync.Mutex
	subs []*nats.Subscription // core subscriptions, for the backlog
}

var (
	_ broker.Driver     = (*driver)(nil)
	_ broker.Backlogger = (*driver)(nil)
)

// dialer sends every connection through the run's Env.Dial (the chaos
// proxy), as nats.go's CustomDialer.
type dialer struct{ env broker.Env }

func (d dialer) Dial(network, addr string) (net.Conn, error) {
	return d.env.DialContext(context.Background(), network, addr)
}

func newDriver(ctx context.Context, c *Config, spec broker.Spec, env broker.Env, servers string, auth []nats.Option) (*driver, error) {
	name := spec.Destination
	if name == "" {
		name = "mqcheck-" + env.RunID
	}
	d := &driver{c: c, spec: spec, env: env, servers: servers, auth: auth, stream: name}
	d.dupLeft.Store(int64(c.DuplicateSends))
	nc, err := d.connect(ctx, "admin", nil)
	if err != nil {
		return nil, err
	}
	d.admin = nc
	if c.Mode == modeJetStream {
		if d.js, err = jetstream.New(nc); err != nil {
			nc.Close()
			return nil, fmt.Errorf("opening JetStream: %w", err)
		}
	}
	return d, nil
}

// connect opens a connection of its own for one client, which reconnects
// by itself for ever (a restart of the server), reporting it.
func (d *driver) connect(ctx context.Context, who string, notify func(broker.Notice)) (*nats.Conn, error) {
	say := func(kind, detail string) {
		if notify != nil {
			notify(broker.Notice{Kind: kind, Detail: who + ": " + detail, At: time.Now()})
		}
	}
	var lastSlow atomic.Int64 // unix nanoseconds of the last slow-consumer notice
	opts := append([]nats.Option{
		nats.Name("mqcheck " + d.env.RunID + " " + who),
		nats.SetCustomDialer(dialer{d.env}),
		nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond), nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				say("disconnected", err.Error())
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { say("reconnected", "connection back") }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
				// nats.go reports every drop: one notice a second at most.
				n, _ := sub.Dropped()
				now := time.Now().UnixNano()
				if last := lastSlow.Load(); now-last < int64(time.Second) || !lastSlow.CompareAndSwap(last, now) {
					return
				}
				if notify != nil {
					notify(broker.Notice{Kind: "slow-consumer", At: time.Now(), Warning: true,
						Detail: fmt.Sprintf("%s: pending limit exceeded, the client dropped %d messages so far", who, n)})
				}
			}
		}),
	}, d.auth...)
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(d.servers, opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%w: connecting to %s: %w", broker.ErrUnreachable, redactServers(d.servers), r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to %s: %w", redactServers(d.servers), ctx.Err())
	}
}

// durable names subscription sub's consumer, after the run so that runs
// sharing a stream (a url target's) never share a consumer.
func (d *driver) durable(sub int) string {
	return "mqcheck-" + d.env.RunID + "-s" + strconv.Itoa(sub)
}

// consumerConfig is subscription sub's durable consumer.
func (d *driver) consumerConfig(sub int) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable: d.durable(sub), AckWait: d.c.AckWait.D(), MaxDeliver: d.c.maxDeliver(),
		MaxAckPending: d.c.MaxAckPending, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: map[string]jetstream.AckPolicy{"explicit": jetstream.AckExplicitPolicy,
			"all": jetstream.AckAllPolicy, "none": jetstream.AckNonePolicy}[d.c.AckPolicy],
	}
	if d.c.AckPolicy == "none" {
		cc.AckWait, cc.MaxAckPending = 0, 0
	}
	if d.c.Consumer == "push" {
		cc.DeliverSubject = "mqcheck-deliver." + d.stream + "." + d.durable(sub)
		cc.DeliverGroup = d.durable(sub)
		cc.FlowControl, cc.IdleHeartbeat = false, 0
	}
	return cc
}

func (d *driver) streamConfig() jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name: d.stream, Subjects: []string{d.stream}, Replicas: d.c.Replicas,
		Storage:   map[string]jetstream.StorageType{"file": jetstream.FileStorage, "memory": jetstream.MemoryStorage}[d.c.Storage],
		Retention: map[string]jetstream.RetentionPolicy{"limits": jetstream.LimitsPolicy, "workqueue": jetstream.WorkQueuePolicy, "interest": jetstream.InterestPolicy}[d.c.Retention],
		Discard:   map[string]jetstream.DiscardPolicy{"old": jetstream.DiscardOld, "new": jetstream.DiscardNew}[d.c.Discard],
		MaxMsgs:   -1, MaxBytes: -1,
		MaxAge:     d.c.MaxAge.D(),
		Duplicates: d.c.DuplicateWindow.D(),
	}
	if d.c.MaxMsgs > 0 {
		sc.MaxMsgs = d.c.MaxMsgs
	}
	if d.c.MaxBytes > 0 {
		sc.MaxBytes = int64(d.c.MaxBytes)
	}
	return sc
}

// setupTimeout bounds Setup's retries: a cluster elects its meta leader
// for a few seconds after it starts.
const setupTimeout = 30 * time.Second

// Setup creates the stream and one durable consumer per subscription; a
// stream of that name that exists already is used as it is (and kept).
// Core mode has nothing to create.
func (d *driver) Setup(ctx context.Context) error {
	if d.c.Mode == modeCore {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	var last error
	for {
		// Each try gets a few seconds: a request a cluster's JetStream
		// drops while it elects its leader would take all of ctx.
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		last = d.setup(actx)
		acancel()
		if last == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if errors.As(last, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabled &&
			apiErr.ErrorCode != 10008 /* cluster not available */ && apiErr.ErrorCode != 10023 /* insufficient resources */ {
			return fmt.Errorf("%w: creating stream %s: %w", broker.ErrConfig, d.stream, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("creating stream %s: %w (last: %w)", d.stream, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (d *driver) setup(ctx context.Context) error {
	s, err := d.js.Stream(ctx, d.stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if s, err = d.js.CreateStream(ctx, d.streamConfig()); err != nil {
			return err
		}
		d.created = true
	case err != nil:
		return err
	}
	for sub := range max(d.spec.Subscriptions, 1) {
		if _, err := s.CreateOrUpdateConsumer(ctx, d.consumerConfig(sub)); err != nil {
			return fmt.Errorf("creating consumer %s: %w", d.durable(sub), err)
		}
	}
	if d.leader != "" {
		return d.moveLeader(ctx, s)
	}
	return nil
}

// moveLeader makes d.leader (node 0 of the embedded cluster) the stream's
// leader, so that a fault on node 0 is a fault on the leader.
func (d *driver) moveLeader(ctx context.Context, s jetstream.Stream) error {
	for {
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster != nil && info.Cluster.Leader == d.leader {
			return nil
		}
		req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, d.leader)
		if _, err := d.admin.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+d.stream, []byte(req)); err != nil && ctx.Err() != nil {
			return fmt.Errorf("moving the leader of stream %s to %s: %w", d.stream, d.leader, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("moving the leader of stream %s to %s: %w", d.stream, d.leader, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Backlog: in jetstream mode what the run's consumers have not yet been
// delivered or not yet acked; in core mode what the subscribers' client
// buffers hold (the server keeps nothing).
func (d *driver) Backlog(ctx context.Context) (int64, error) {
	if d.c.Mode == modeCore {
		d.mu.Lock()
		defer d.mu.Unlock()
		var n int64
		for _, s := range d.subs {
			if m, _, err := s.Pending(); err == nil {
				n += int64(m)
			}
		}
		return n, nil
	}
	d.reportDiscards(ctx)
	if gone, err := d.memoryStreamGone(ctx); err != nil {
		return 0, err
	} else if gone {
		return 0, nil
	}
	var n int64
	for sub := range max(d.spec.Subscriptions, 1) {
		info, err := d.consumerInfo(ctx, sub)
		if err != nil {
			return 0, fmt.Errorf("reading consumer %s: %w", d.durable(sub), err)
		}
		n += int64(info.NumPending) + int64(info.NumAckPending)
	}
	return n, nil
}

// memoryStreamGone: the run's own memory-storage stream no longer exists
// (its server restarted, and memory keeps nothing): what it held is gone
// for good, so nothing is left to deliver and what is missing is lost. Only
// then: a file stream missing for a moment (a cluster electing a leader)
// proves nothing.
func (d *driver) memoryStreamGone(ctx context.Context) (bool, error) {
	if !d.created || d.c.Storage != "memory" {
		return false, nil
	}
	_, err := d.js.Stream(ctx, d.stream)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return false, fmt.Errorf("reading stream %s: %w", d.stream, err)
	}
	if !d.goneSaid.Swap(true) && d.env.Notify != nil {
		d.env.Notify(broker.Notice{Kind: "stream-gone", At: time.Now(), Warning: true,
			Detail: fmt.Sprintf("stream %s (storage memory) is gone: its server restarted, and what it held not yet delivered is lost", d.stream)})
	}
	return true, nil
}

// Unproven: jetstream-dedupe rests on the deliberate re-sends; a run that
// made fewer than duplicate_sends (the load ended first, or re-sends
// failed) did not put the window to the test in full.
func (d *driver) Unproven() map[string]string {
	want, made := int64(d.c.DuplicateSends), d.dupSent.Load()
	if want == 0 || made >= want {
		return nil
	}
	return map[string]string{claimDedupe: fmt.Sprintf("%d of %d deliberate re-sends (broker.nats.duplicate_sends) were made: the window was not put to the test in full",
		made, want)}
}

func (d *driver) consumerInfo(ctx context.Context, sub int) (*jetstream.ConsumerInfo, error) {
	if d.c.Consumer == "push" {
		c, err := d.js.PushConsumer(ctx, d.stream, d.durable(sub))
		if err != nil {
			return nil, err
		}
		return c.Info(ctx)
	}
	c, err := d.js.Consumer(ctx, d.stream, d.durable(sub))
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// reportDiscards says once, in the run's timeline, how many messages the
// stream's own limits removed (max_msgs, max_bytes, max_age with discard
// old): the checker counts them lost, and this says the loss is the
// policy's.
func (d *driver) reportDiscards(ctx context.Context) {
	if d.env.Notify == nil || d.discardsSaid.Load() || d.c.Retention != "limits" || (d.c.MaxMsgs == 0 && d.c.MaxBytes == 0 && d.c.MaxAge == 0) {
		return
	}
	s, err := d.js.Stream(ctx, d.stream)
	if err != nil {
		return
	}
	st := s.CachedInfo().State
	if st.FirstSeq <= 1 || !d.discardsSaid.CompareAndSwap(false, true) {
		return
	}
	d.env.Notify(broker.Notice{Kind: "stream-limit", At: time.Now(), Warning: true,
		Detail: fmt.Sprintf("the stream's limits (max_msgs %d, max_bytes %d, max_age %s, discard %s) removed %d messages so far, read or not: those no consumer had read are lost by the stream's policy, and counted lost",
			d.c.MaxMsgs, d.c.MaxBytes, d.c.MaxAge.D(), d.c.Discard, st.FirstSeq-1)})
}

// Close deletes the stream the run created unless asked to keep it.
func (d *driver) Close(ctx context.Context) error {
	var err error
	if d.js != nil && d.created && !d.spec.Keep && d.admin.IsConnected() {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if e := d.js.DeleteStream(dctx, d.stream); e != nil && !errors.Is(e, jetstream.ErrStreamNotFound) {
			err = fmt.Errorf("deleting stream %s: %w", d.stream, e)
		}
		cancel()
	}
	if d.js != nil && !d.created && !d.spec.Keep && d.admin.IsConnected() {
		// A stream that was there before is kept; the run's consumers go.
		for sub := range max(d.spec.Subscriptions, 1) {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if e := d.js.DeleteConsumer(dctx, d.stream, d.durable(sub)); e != nil && !errors.Is(e, jetstream.ErrConsumerNotFound) && !errors.Is(e, jetstream.ErrStreamNotFound) {
				err = errors.Join(err, fmt.Errorf("deleting consumer %s: %w", d.durable(sub), e))
			}
			cancel()
		}
	}
	d.admin.Close()
	return err
}

func (d *driver) addSub(s *nats.Subscription) {
	d.mu.Lock()
	d.subs = append(d.subs, s)
	d.mu.Unlock()
}

func (d *driver) dropSub(s *nats.Subscription) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, x := range d.subs {
		if x == s {
			d.subs = append(d.subs[:i], d.subs[i+1:]...)
			return
		}
	}
}
