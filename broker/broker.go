// Package broker defines the seam between mqcheck's swarm and a message broker:
// a Driver makes Producers and Consumers; each sub-package implements it for one broker.
package broker

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"
)

// Outcome is what a producer learned about one publish.
type Outcome uint8

const (
	// Acked: the broker confirmed it holds the message.
	Acked Outcome = iota + 1
	// Failed: the broker definitely refused the message (nack, a returned
	// mandatory message, a non-retriable error). It must not be delivered.
	Failed
	// Indeterminate: the producer cannot know (timeout, connection lost
	// before the confirm). A driver reports a timeout or a lost connection as
	// Indeterminate, never as Failed.
	Indeterminate
	// Aborted: the message was written inside a transaction that the
	// broker confirmed aborted (Kafka's EndTxn abort answered). A
	// read_committed consumer must never receive it. A driver reports
	// Aborted only on the broker's answer to the abort; a transaction whose
	// end it cannot confirm is Indeterminate.
	Aborted
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	case Indeterminate:
		return "indeterminate"
	case Aborted:
		return "aborted"
	}
	return "unknown"
}

// Message is one publish. The swarm owns and reuses Messages: a driver may
// keep a *Message only until it has called OnComplete for it, and must not
// change Payload.
type Message struct {
	Producer int    // producer index within the run
	Seq      uint64 // sequence number within the producer
	Key      []byte // optional routing / partitioning key; nil means none
	Payload  []byte // header + padding, see package message
	// Intended and Sent are unix nanoseconds: when the pacer meant to send
	// and when Publish was called.
	Intended int64
	Sent     int64
	// Txn is set by a transactional driver before it completes the
	// message: the number (from 1) of the producer's transaction it was
	// written in, so that evidence names the transaction. 0 outside
	// transactions. The swarm resets it before each publish.
	Txn uint64
	// Private is the driver's own per-message state (a pooled client
	// record): the swarm reuses each Message for the same producer and never
	// touches this field, so a driver allocates it once per Message rather
	// than once per publish.
	Private any
	// PaddingCRC is the swarm's, not the driver's: the CRC-32C of
	// Payload past its header, which never changes, so that encoding each
	// message checksums the header alone (message.EncodeWithPadding).
	// Drivers neither read nor set it.
	PaddingCRC uint32
}

// Completion reports the outcome of one Publish that returned nil. It is
// called exactly once per such Publish. For one Producer, calls never overlap
// (drivers serialize them), so the swarm can record into unsynchronized
// per-producer state. err explains Failed and Indeterminate outcomes.
type Completion func(m *Message, o Outcome, err error)

// CompletionBatch reports one outcome for several Publishes the broker
// answered at once (one flush round trip confirmed them all), in publish
// order: the receiver reads its clock once for all of them. Each message
// it names counts as that message's one completion; the rules of
// Completion hold. ms is the driver's: the receiver keeps no reference
// to the slice.
type CompletionBatch func(ms []*Message, o Outcome, err error)

// ProducerOptions configure one producer of the swarm.
type ProducerOptions struct {
	ID         int
	OnComplete Completion
	// OnCompleteBatch, when set, may be called instead of OnComplete for
	// messages a single answer completes. Never concurrently with
	// OnComplete. Nil: drivers call OnComplete for each.
	OnCompleteBatch CompletionBatch
	// Notify, when set, receives what the driver wants in the run's timeline
	// (connection lost, reconnected). It may be called from any goroutine.
	Notify func(Notice)
}

// ConsumerOptions configure one consumer of the swarm.
type ConsumerOptions struct {
	ID int
	// Subscription is the index of the subscription (a consumer group, a
	// fanout queue) this consumer belongs to; every subscription must get
	// every message.
	Subscription int
	// Notify, as in ProducerOptions; consumers also report rebalances.
	Notify func(Notice)
	// Handover, when set, is called when the consumer gives up ordering
	// domains (partitions revoked, lost, or left behind when it stops):
	// after its last delivery from them and, where the broker lets the
	// driver decide, before another consumer receives from them. The swarm
	// hands what it has received to the checker there, so that a domain's
	// deliveries reach the checker in the order the broker made them, not
	// in the order two consumers' batches happen to be handed over. It may
	// be called from any goroutine, and must not call into the driver.
	Handover func()
}

// Delivery is one message handed to a consumer. It and its Payload are valid
// only for the duration of the Handler call, and Payload is read-only: a
// driver may hand over its client's string (Redis, SQS) without a copy.
type Delivery struct {
	Payload []byte
	// Domain names the ordering domain the message came from: a partition
	// ("topic/3"), a queue as seen by one consumer, a subject. Drivers reuse
	// the same string value for the same domain so that the swarm can cache it.
	Domain string
	// Redelivered is the broker's own redelivery flag, when it has one.
	Redelivered bool
	// Position is where the broker stores the delivered copy, when it has
	// such a thing (HasPosition): unique within the ordering domain, so
	// that two deliveries of one message at one position are one stored
	// copy delivered twice, and at two positions a message stored twice.
	// Kafka: the record's offset in the partition named by Domain; the
	// memory broker: its log index in the partition. AMQP queues have
	// none.
	Position    uint64
	HasPosition bool
	// PositionDomain names where Position is unique when that is wider
	// than Domain: a Kafka share group's partition, which every member
	// reads while each member's view of it is an ordering domain. ""
	// means Domain. Reused string values, as Domain's.
	PositionDomain string
	// DeadLettered marks a message read back from the dead-letter queue the
	// driver set up: it was rejected by a consumer (or expired) and the
	// broker routed it aside. Reason is the broker's reason ("rejected",
	// "expired", "maxlen", "delivery_limit").
	DeadLettered bool
	Reason       string
	// SameFetch says the broker handed this delivery over in the same
	// answer as the one before it to the same handler (one Kafka poll):
	// the receiver may date both with one reading of its clock, taken
	// once that answer was in, as CompletionBatch lets it for acks.
	SameFetch bool
}

// Handler processes one delivery. A nil return acknowledges it (in the
// driver's ack mode); ErrReject and ErrDeadLetter reject it.
type Handler func(d *Delivery) error

// ErrReject is returned by a Handler to reject the delivery and have it
// redelivered (a nack with requeue): it comes back flagged Redelivered.
var ErrReject = errors.New("delivery rejected by the handler")

// ErrDeadLetter is returned by a Handler to reject the delivery for good
// (a nack without requeue): the broker dead-letters it where the driver set
// up a dead-letter queue, and the driver delivers it from there with
// DeadLettered set. Drivers without dead-lettering return an error from Run.
var ErrDeadLetter = errors.New("delivery rejected for good by the handler")

// Driver connects the swarm to one broker (or cluster).
type Driver interface {
	// Setup creates the destinations the scenario needs (topics, queues,
	// exchanges, bindings). It is called once before any producer or consumer.
	Setup(ctx context.Context) error
	NewProducer(ctx context.Context, o ProducerOptions) (Producer, error)
	NewConsumer(ctx context.Context, o ConsumerOptions) (Consumer, error)
	// Close releases the driver; destinations it created are deleted unless
	// the scenario says to keep them.
	Close(ctx context.Context) error
}

// Producer publishes asynchronously.
type Producer interface {
	// Publish hands m to the broker without waiting for the confirm. A nil
	// return promises exactly one OnComplete call for m; an error means m was
	// not sent at all (the context ended, the producer is closed).
	Publish(ctx context.Context, m *Message) error
	// Flush waits until every published message has been completed, or ctx ends.
	Flush(ctx context.Context) error
	// Close stops the producer. Messages still in flight are completed as
	// Indeterminate before Close returns.
	Close() error
}

// PayloadCopier is an optional capability of a Producer whose Publish has
// copied m.Payload by the time it returns and never reads it again (core
// NATS: the client copies it into its write buffer). The swarm then builds
// every message in one buffer that stays in the CPU's cache, instead of a
// buffer per message in flight: with a window of thousands, each publish
// copied from memory the cache had long lost.
type PayloadCopier interface {
	CopiesPayload() bool
}

// PublishWaiter is an optional capability of a Producer whose Publish
// waits for the broker in the normal course (a round trip: a
// transaction's commit), not only when its client's buffers are full or
// the broker is away. The swarm makes a fleet's paced sends from a few
// goroutines, each for many producers, and one Publish that waits holds
// the others' sends back: a producer that says PublishWaits gets a
// goroutine of its own.
type PublishWaiter interface {
	PublishWaits() bool
}

// Consumer delivers messages to a Handler until its context ends.
type Consumer interface {
	// Run blocks, calling h for each delivery (never concurrently for one
	// consumer), until ctx ends or the consumer fails for good. Drivers
	// reconnect by themselves; an error return means they gave up.
	Run(ctx context.Context, h Handler) error
	// Close releases the consumer. Deliveries not yet acknowledged go back to
	// the broker (they will be redelivered to another consumer).
	Close() error
}

// Backlogger is implemented by drivers that can tell how many messages the
// harness's subscriptions have not consumed yet (consumer lag, queue depth).
// The drain uses it: a backlog of zero that stays zero means anything still
// missing is lost, not late.
type Backlogger interface {
	Backlog(ctx context.Context) (int64, error)
}

// ErrCannotCount is what a Backlog error wrapped by CannotCount is: the
// driver's answer that it cannot count here and now (another worker's
// consumers share its queues, the broker's counters are not trusted yet,
// offsets count transaction markers), not a query that failed. A worker of
// a split run then ends its drain on quiet alone; any other error holds
// that drain until a count succeeds or it times out, since a query that
// failed during a restart or a rebalance says nothing about what is left.
var ErrCannotCount = errors.New("the backlog cannot be counted here")

// CannotCount marks err as the driver's answer that it cannot count the
// backlog (errors.Is(err, ErrCannotCount)), keeping err's text.
func CannotCount(err error) error { return cannotCount{err} }

type cannotCount struct{ error }

func (e cannotCount) Unwrap() error { return e.error }

func (e cannotCount) Is(target error) bool { return target == ErrCannotCount }

// Notice is a driver event worth a line in the run's timeline: a rebalance
// (Kind "rebalance", Detail naming assigned and revoked domains), a lost
// connection ("disconnected"), a recovered one ("reconnected"), a client
// that keeps failing to reconnect ("reconnect-failing", a Warning). Drivers
// never report per-message events here.
type Notice struct {
	Kind   string
	Detail string
	At     time.Time
	// Warning: the user should see it in the run's summary, not only in
	// the timeline (the run may end in a drain timeout because of it).
	Warning bool
}

// ProbeReporter is an optional capability of a Driver whose claims rest on
// probes the run makes (deliberate re-sends that test a deduplication
// window): after the drain, Unproven names each claim whose probes were not
// made in full, with why. The checker then leaves the claim unknown instead
// of passing it on a test that did not happen.
type ProbeReporter interface {
	Unproven() map[string]string
}

// ClaimScoper is an optional capability of a Driver some of whose claims
// promise something of part of a run's messages only (MQTT's QoS levels,
// set per producer and per subscription). ClaimScopes gives, for each of
// claims it narrows, which messages the claim judges; a claim it leaves
// out judges them all.
type ClaimScoper interface {
	ClaimScopes(claims []string) map[string]ClaimScope
}

// ClaimScope is the part of a run's messages a claim judges: those of
// producer p received in subscription sub (both numbered from 0, as the
// swarm numbers them) where In(sub, p). What names the part in the
// claim's summary ("producers 1, 3 of 4: delivered at QoS 1").
type ClaimScope struct {
	What string
	In   func(sub, producer int) bool
}

// ConnectionReporter is an optional capability of a Driver whose
// producers and consumers each hold connections of their own (a fleet of
// MQTT clients): after the run, Connections says how many of their
// connects succeeded, how many failed, and how long the successful ones
// took. The runner puts it in the results.
type ConnectionReporter interface {
	Connections() ConnectionStats
}

// ConnectionStats are a run's client connects: each dial of a producer or
// consumer, the first and every reconnect, from the socket's dial to the
// broker's answer (a connect rate's wait not included).
type ConnectionStats struct {
	OK, Failed    int64
	P50, P99, Max time.Duration
}

// ConnectTimes records connects for a ConnectionReporter; the zero value
// is ready, and any goroutine may record.
type ConnectTimes struct {
	mu     sync.Mutex
	ok     []time.Duration
	failed int64
}

// Record notes one connect that took d, failed when err is not nil.
func (c *ConnectTimes) Record(d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failed++
		return
	}
	c.ok = append(c.ok, d)
}

// Stats are the connects recorded so far, with nearest-rank percentiles.
func (c *ConnectTimes) Stats() ConnectionStats {
	c.mu.Lock()
	ds := slices.Clone(c.ok)
	failed := c.failed
	c.mu.Unlock()
	st := ConnectionStats{OK: int64(len(ds)), Failed: failed}
	if len(ds) == 0 {
		return st
	}
	slices.Sort(ds)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ds[max(i, 0)]
	}
	st.P50, st.P99, st.Max = rank(0.50), rank(0.99), ds[len(ds)-1]
	return st
}

// ErrUnreachable wraps errors that mean the broker could not be reached at
// all; mqcheck exits 3 (infrastructure) on them.
var ErrUnreachable = errors.New("broker unreachable")

// Env is what a run gives a target when it opens it.
type Env struct {
	RunID string
	// Dir is the run directory; targets keep their data under it.
	Dir string
	Log *slog.Logger
	// Seed for every random choice the target makes.
	Seed int64
	// Notify, when set, receives what the target itself wants in the
	// run's timeline (its relay's crashes and restarts); any goroutine.
	Notify func(Notice)
	// Dial, when set, opens every connection the target's clients make to
	// the broker (the chaos layer puts a proxy in the path and maps each
	// endpoint to it); nil dials directly. Drivers must not dial otherwise.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DialTimeout bounds a dial made through Env.DialContext when ctx has no
// deadline of its own.
const DialTimeout = 10 * time.Second

// DialContext dials through Dial, or directly when it is nil, within
// DialTimeout unless ctx ends sooner.
func (e Env) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if e.Dial == nil {
		d := net.Dialer{Timeout: DialTimeout}
		return d.DialContext(ctx, network, addr)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DialTimeout)
		defer cancel()
	}
	return e.Dial(ctx, network, addr)
}

// Target is a broker instance obtained for one run (embedded, a private
// process, a container, or an existing broker at a URL) and a driver for it.
type Target struct {
	Driver Driver
	// Restarter is nil when the target cannot be restarted (url targets).
	// It may also be a Pauser and a LeaderMover.
	Restarter Restarter
	// Endpoints are the broker addresses (host:port) the target's clients
	// connect to: every address a client may dial, for Kafka also those
	// the brokers advertise. Network faults put a proxy in front of each.
	// Empty when clients do not connect over TCP (the memory broker).
	Endpoints []string
	// Description says what was started or reached, for the report
	// ("embedded kfake, 3 brokers on 127.0.0.1:40001,...").
	Description string
	// Close stops whatever the target started; it is safe to call once
	// after Driver.Close, also after errors.
	Close func(ctx context.Context) error
	// Relay is the relay stage the driver runs between producers and
	// consumers (Spec.Relay), for relay faults; nil without one.
	Relay Relay
	// Container describes the container a container target started; nil
	// for other targets.
	Container *ContainerInfo
}

// Restarter restarts a target's broker keeping its data.
type Restarter interface {
	// Nodes is the number of broker nodes.
	Nodes() int
	// Stop takes node (or all when node < 0) down, killing it unless graceful.
	Stop(ctx context.Context, node int, graceful bool) error
	// Start brings back what Stop took down, on the same addresses and data.
	Start(ctx context.Context, node int) error
}

// Pauser is an optional capability of a Restarter: freeze nodes without
// stopping them (SIGSTOP, or an embedded broker that stops reading and
// writing its sockets), so that connections stay open and nothing answers.
type Pauser interface {
	// Pause freezes node (all when node < 0); Resume undoes it.
	Pause(ctx context.Context, node int) error
	Resume(ctx context.Context, node int) error
}

// LeaderMover is an optional capability of a Restarter whose broker elects
// partition leaders (the embedded Kafka cluster).
type LeaderMover interface {
	// MoveLeaders hands the leadership of every partition of the run's
	// destination to another node, chosen with rng, and says what moved.
	MoveLeaders(ctx context.Context, rng *rand.Rand) (string, error)
}

// TxnAnswerDropper is an optional capability of a Restarter whose broker
// runs transactions inside mqcheck (the embedded Kafka cluster): while
// dropping, the broker applies every request that ends a transaction
// (commit or abort) and its answer never reaches the client, whose
// connection closes instead, as when a reply is lost after the work was
// done.
type TxnAnswerDropper interface {
	DropTxnAnswers(drop bool) error
}

// Crasher is an optional capability of a Consumer: stop as a killed client
// would, without acknowledging or committing anything more, so that what it
// had received and not yet acknowledged is delivered again. Consumers
// without it are crashed with Close, which must give unacknowledged
// deliveries back as well.
type Crasher interface {
	Crash() error
}

// ErrConfig wraps errors that mean the scenario asks for something the
// driver cannot do (a contradiction only the driver can see): mqcheck
// reports them as scenario errors (exit 2), not as infrastructure errors.
var ErrConfig = errors.New("invalid scenario for this broker")
