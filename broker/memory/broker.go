// Package memory is an in-process reference broker: mqcheck's own test bench, whose
// fault knobs inject exact, seeded counts of each anomaly for known-answer tests.
package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/plural"
)

var errBrokerClosed = errors.New("broker closed")

// Broker is the memory broker. It implements broker.Driver and
// broker.Backlogger; a test reaches Injected and Config through
// Target.Driver.(*memory.Broker).
type Broker struct {
	cfg   Config // defaults applied
	dest  string
	queue bool
	seed  int64
	// domains are the partitions' ordering domains, one string value each
	// as broker.Delivery asks.
	domains []string
	start   time.Time

	// injected counts faults actually applied; atomic because the outcome
	// faults are counted on the producers' completion goroutines.
	injected [numKinds]atomic.Int64

	// queued is the backlog in bytes (entryCost each, every subscription's)
	// and running the consumers running: written under mu, read without it
	// by publishes, which wait on room while queued is past
	// Config.MaxBacklog and a consumer runs.
	queued  atomic.Int64
	running atomic.Int64
	// waited counts the publishes that waited for room.
	waited atomic.Int64

	mu        sync.Mutex
	closed    bool
	slab      []byte // see slabCopy
	rng       *rand.Rand
	plan      []plannedFault
	planNext  int
	carry     []faultKind // planned faults waiting for a message they apply to
	arrivals  int64
	subs      []*subscription
	held      map[holdKey]held
	producers []*producer
	consumers []*consumer
	// room is closed (and cleared) when publishes may go on; nil when
	// nobody waits.
	room chan struct{}

	// ready is the producers with completions to make, each at most once,
	// taken by up to completers goroutines (completing: how many run
	// now); under cmu, which is taken after a producer's mu, never before.
	cmu   sync.Mutex
	ready []*producer
	// readyHead is the next of ready to complete: a queue that took from
	// its front by reslicing lost that room, and appends to it allocated
	// a new array again and again (a third of Publish's CPU at 10,000
	// paced producers).
	readyHead  int
	completing int
}

var (
	_ broker.Driver     = (*Broker)(nil)
	_ broker.Backlogger = (*Broker)(nil)
)

// Open is the target of broker kind memory: the broker lives in the mqcheck
// process, so there is nothing to start or restart. A nil cfg is an empty
// configuration.
func Open(ctx context.Context, cfg *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory broker: open: %w", err)
	}
	if t := spec.Target; t != "" && t != broker.TargetEmbedded {
		return nil, fmt.Errorf("memory broker: open: %w: target %q: the memory broker only runs embedded", broker.ErrConfig, t)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	subs := spec.Subscriptions
	if subs == 0 {
		subs = 1
	}
	dest := spec.Destination
	if dest == "" {
		dest = defaultDestination
	}
	if err := broker.NoDeadLetter("memory", spec); err != nil {
		return nil, fmt.Errorf("memory broker: open: %w: %w", broker.ErrConfig, err)
	}
	b, err := newBroker(c, subs, env.Seed, dest)
	if err != nil {
		return nil, fmt.Errorf("memory broker: open: %w", err)
	}
	if env.Log != nil {
		env.Log.Debug("memory broker opened", "description", b.describe(), "fault_plan", len(b.plan))
	}
	return &broker.Target{
		Driver:      b,
		Description: b.describe(),
		Close:       b.Close,
	}, nil
}

// New makes a broker for the destination "mqcheck" with the given number of
// subscriptions. seed drives every random choice: fault positions, the
// subscription each fault hits, the corrupted byte.
func New(cfg Config, subscriptions int, seed int64) (*Broker, error) {
	return newBroker(cfg, subscriptions, seed, defaultDestination)
}

func newBroker(cfg Config, subscriptions int, seed int64, dest string) (*Broker, error) {
	if err := errors.Join(cfg.Validate(), checkSubscriptions(subscriptions)); err != nil {
		return nil, fmt.Errorf("memory broker: %w: %w", broker.ErrConfig, err)
	}
	cfg = withDefaults(cfg)
	// The second PCG word only separates this stream from other users of
	// the same seed.
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d656d6f7279))
	b := &Broker{
		cfg:   cfg,
		dest:  dest,
		queue: cfg.Mode == ModeQueue,
		seed:  seed,
		start: time.Now(),
		rng:   rng,
		plan:  newPlan(rng, faultCounts(cfg.Faults), cfg.Faults.Window),
		held:  make(map[holdKey]held),
	}
	lanes := cfg.Partitions
	if b.queue {
		lanes = 1
	}
	b.domains = make([]string, lanes)
	for l := range b.domains {
		b.domains[l] = dest + "/" + strconv.Itoa(l)
	}
	for i := range subscriptions {
		b.subs = append(b.subs, newSubscription(i, lanes, b.queue, &b.queued))
	}
	return b, nil
}

func (b *Broker) describe() string {
	var d strings.Builder
	fmt.Fprintf(&d, "in-process memory broker: %s mode", b.cfg.Mode)
	if !b.queue {
		fmt.Fprintf(&d, ", %s", plural.Of(b.cfg.Partitions, "partition"))
	}
	// The run reports the seed beside the target: not said twice here.
	fmt.Fprintf(&d, ", %s, destination %q", plural.Of(len(b.subs), "subscription"), b.dest)
	if b.cfg.AckLatency > 0 {
		fmt.Fprintf(&d, ", ack latency %s", b.cfg.AckLatency)
	}
	var faults []string
	for k, n := range faultCounts(b.cfg.Faults) {
		if n > 0 {
			faults = append(faults, fmt.Sprintf("%s=%d", faultKind(k), n))
		}
	}
	if len(faults) > 0 {
		fmt.Fprintf(&d, ", faults %s in the first %d publishes", strings.Join(faults, " "), b.cfg.Faults.Window)
	}
	return d.String()
}

// now is a monotonic clock for confirm due times.
func (b *Broker) now() int64 { return int64(time.Since(b.start)) }

// Config returns the configuration in use, defaults applied: at the end of a
// run that consumed everything, Injected() == Config().Faults.
func (b *Broker) Config() Config { return b.cfg }

// Injected returns the faults applied so far, Window being the configured
// one. Drop, Duplicate, DuplicateRedelivered and Corrupt count when the
// message is stored; Reorder when the held message is released after its
// successor; the outcome faults (WithholdAck*, Reject, Phantom) when the
// producer is told the injected outcome.
func (b *Broker) Injected() Faults {
	return faultsFrom(&b.injected, b.cfg.Faults.Window)
}

// Setup has nothing to create: the topic or queues exist from New.
func (b *Broker) Setup(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory broker: setup: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("memory broker: setup: %w", errBrokerClosed)
	}
	return nil
}

// NewProducer starts a producer and its completion goroutine.
func (b *Broker) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory broker: new producer %d: %w", o.ID, err)
	}
	if o.OnComplete == nil {
		return nil, fmt.Errorf("memory broker: new producer %d: OnComplete is required", o.ID)
	}
	p := &producer{
		b:          b,
		id:         o.ID,
		onComplete: o.OnComplete,
		latency:    b.cfg.AckLatency.D(),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		exited:     make(chan struct{}),
		flushedAt:  -1,
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("memory broker: new producer %d: %w", o.ID, errBrokerClosed)
	}
	b.producers = append(b.producers, p)
	if p.latency > 0 {
		go p.complete()
	}
	return p, nil
}

// NewConsumer makes a consumer of subscription o.Subscription. It joins the
// subscription (and takes partitions) when Run starts, not before, so a
// consumer that is made and never run holds nothing back.
func (b *Broker) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory broker: new consumer %d: %w", o.ID, err)
	}
	if o.Subscription < 0 || o.Subscription >= len(b.subs) {
		return nil, fmt.Errorf("memory broker: new consumer %d: subscription %d out of range (the broker has %d)",
			o.ID, o.Subscription, len(b.subs))
	}
	c := &consumer{
		b:           b,
		id:          o.ID,
		sub:         b.subs[o.Subscription],
		notify:      o.Notify,
		handover:    o.Handover,
		queueDomain: b.dest + "@consumer-" + strconv.Itoa(o.ID),
		wake:        make(chan struct{}, 1),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("memory broker: new consumer %d: %w", o.ID, errBrokerClosed)
	}
	b.consumers = append(b.consumers, c)
	return c, nil
}

// Backlog is the number of deliveries not yet acknowledged, summed over the
// subscriptions: queued, in consumers' batches, held back by a reorder, and
// duplicate copies. Dropped deliveries are not in it. It first releases the
// held messages of finished producers (closed, or flushed with nothing
// published since), which no successor can come for any more; without that
// the backlog of a drained run would never reach zero.
func (b *Broker) Backlog(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory broker: backlog: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, fmt.Errorf("memory broker: backlog: %w", errBrokerClosed)
	}
	b.releaseHeld(false)
	var n int64
	for _, s := range b.subs {
		n += s.backlog
	}
	return n, nil
}

// Close closes every producer (completing what is in flight as
// Indeterminate) and consumer. It is idempotent, so it also serves as the
// target's Close.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.room != nil {
		close(b.room)
		b.room = nil
	}
	producers, consumers := b.producers, b.consumers
	b.producers, b.consumers = nil, nil
	b.mu.Unlock()

	for _, c := range consumers {
		_ = c.Close() // never fails
	}
	for _, p := range producers {
		p.shutdown()
	}
	var err error
	for i, p := range producers {
		select {
		case <-p.exited:
			continue
		case <-ctx.Done():
			err = fmt.Errorf("memory broker: close: %d producers still in OnComplete: %w", len(producers)-i, ctx.Err())
		}
		break
	}
	b.mu.Lock()
	b.releaseHeld(true)
	b.mu.Unlock()
	return err
}

// full says whether a publish must wait for room: the backlog is past
// Config.MaxBacklog and a consumer runs to make room.
func (b *Broker) full() bool {
	return b.queued.Load() >= int64(b.cfg.MaxBacklog) && b.running.Load() > 0
}

// admit waits until the backlog has room for a publish, as a real broker
// blocks publishers past its memory bound; p's Close or ctx end the wait.
// A closed broker admits: the publish then fails on it.
func (b *Broker) admit(ctx context.Context, p *producer) error {
	if !b.full() {
		return nil
	}
	b.waited.Add(1)
	for {
		b.mu.Lock()
		if b.closed || !b.full() {
			b.mu.Unlock()
			return nil
		}
		if b.room == nil {
			b.room = make(chan struct{})
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-p.stop:
			return errProducerClosed
		case <-ctx.Done():
			return fmt.Errorf("waiting for room in the backlog (%s, broker.memory.max_backlog): %w", b.cfg.MaxBacklog, ctx.Err())
		}
	}
}

// makeRoom lets waiting publishes go on once the backlog is an eighth
// below Config.MaxBacklog, or no consumer runs. Waking them at the bound
// itself would wake every waiting producer for each batch a consumer
// acknowledges, each to publish one message. Called with b.mu held, after
// the backlog shrank or a consumer stopped.
func (b *Broker) makeRoom() {
	if b.room == nil {
		return
	}
	limit := int64(b.cfg.MaxBacklog)
	if b.running.Load() == 0 || b.queued.Load() <= limit-limit/8 {
		close(b.room)
		b.room = nil
	}
}

// Waited counts the publishes that had to wait for room in the backlog
// (Config.MaxBacklog).
func (b *Broker) Waited() int64 { return b.waited.Load() }
