// Package brokertest is the conformance suite every broker driver runs against its real
// server with one call (Run), and the bare-client-versus-swarm benchmark helper.
package brokertest

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// Capabilities a kind may lack by design. A harness declares each one it
// lacks in Caps.Unsupported, with the reason; the suite then reports the
// check as skipped with that reason instead of running it.
const (
	// CapReject: ErrReject gives a delivery back and it comes again.
	CapReject = "reject"
	// CapRejectFlag: what ErrReject gave back comes again flagged
	// Redelivered.
	CapRejectFlag = "reject-flag"
	// CapCrashFlag: the deliveries a crashed consumer had not acknowledged
	// come again flagged Redelivered. (That they come again at all is
	// required of every kind.)
	CapCrashFlag = "crash-flag"
	// CapBacklog: the driver is a broker.Backlogger.
	CapBacklog = "backlog"
	// CapRestart: the broker can be stopped and started again
	// (Harness.OpenRestartable).
	CapRestart = "restart"
	// CapPubSub: several subscriptions each get every message.
	CapPubSub = "pub-sub"
	// CapSecrets: the kind takes credentials (Harness.OpenWithSecret).
	CapSecrets = "secrets"
)

var knownCaps = []string{CapReject, CapRejectFlag, CapCrashFlag, CapBacklog, CapRestart, CapPubSub, CapSecrets}

// Caps declares what a kind cannot do.
type Caps struct {
	// Unsupported maps a capability (Cap*) to why the kind lacks it.
	Unsupported map[string]string
}

// Harness is what a driver hands the suite.
type Harness struct {
	// Open opens a target for spec on the driver's real server. The suite
	// gives every call a destination of its own in spec.Destination and
	// its own env (run id, directory); it runs Setup and closes the driver
	// and the target. The harness picks the target and configuration (a
	// shared private node reached by URL, say) and adapts the config to
	// spec where the kind needs it (RabbitMQ: pattern fanout for several
	// subscriptions).
	Open func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error)
	// OpenRestartable opens, like Open, a target whose Restarter stops and
	// starts the broker, keeping its data (a private instance). Nil when
	// CapRestart is declared unsupported.
	OpenRestartable func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error)
	// OpenWithSecret tries to open a target whose configuration carries
	// secret as a credential (a password in the URL, a SASL password) for
	// a broker that is not there. Nil when CapSecrets is declared
	// unsupported.
	OpenWithSecret func(ctx context.Context, secret string, env broker.Env) (*broker.Target, error)
	Caps           Caps
}

// check is one conformance check: it returns what the driver got wrong.
type check struct {
	name string
	// needs is the capability without which the check cannot run ("" for
	// checks every kind must pass).
	needs string
	run   func(ctx context.Context, r *rig) []string
}

func checks() []check {
	return []check{
		{"completion-once", "", checkCompletionOnce},
		{"close-indeterminate", "", checkCloseIndeterminate},
		{"crash-redelivers", "", checkCrashRedelivers},
		{"reject-redelivered", CapReject, checkRejectRedelivered},
		{"ordering", "", checkOrdering},
		{"pub-sub", CapPubSub, checkPubSub},
		{"backlog-proven", CapBacklog, checkBacklog},
		{"restart-reconnects", CapRestart, checkRestart},
		{"secrets-hidden", CapSecrets, checkSecrets},
	}
}

// checkTimeout bounds one check; restarts get more (a RabbitMQ node takes
// up to 35 s to boot on a loaded machine).
const (
	checkTimeout   = 90 * time.Second
	restartTimeout = 3 * time.Minute
)

// Run runs every check against h, each in a subtest of its own. A check
// whose capability h declares unsupported is skipped with the declared
// reason, and the declarations are logged together first.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatal(err)
	}
	if len(h.Caps.Unsupported) > 0 {
		var lines []string
		for _, c := range knownCaps {
			if why, ok := h.Caps.Unsupported[c]; ok {
				lines = append(lines, c+": "+why)
			}
		}
		t.Logf("declared unsupported: %s", strings.Join(lines, "; "))
	}
	for _, c := range checks() {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := h.Caps.Unsupported[c.needs]; ok && c.needs != "" {
				t.Skipf("declared unsupported (%s): %s", c.needs, why)
			}
			timeout := checkTimeout
			if c.needs == CapRestart {
				timeout = restartTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			for _, p := range c.run(ctx, newRig(t, h)) {
				t.Error(p)
			}
		})
	}
}

func (h Harness) validate() error {
	if h.Open == nil {
		return fmt.Errorf("brokertest: Harness.Open is required")
	}
	for c := range h.Caps.Unsupported {
		if !slices.Contains(knownCaps, c) {
			return fmt.Errorf("brokertest: unknown capability %q (known: %s)", c, strings.Join(knownCaps, ", "))
		}
		if h.Caps.Unsupported[c] == "" {
			return fmt.Errorf("brokertest: capability %q declared unsupported without a reason", c)
		}
	}
	_, noRestart := h.Caps.Unsupported[CapRestart]
	if (h.OpenRestartable == nil) != noRestart {
		return fmt.Errorf("brokertest: give OpenRestartable or declare %s unsupported, not both or neither", CapRestart)
	}
	_, noSecrets := h.Caps.Unsupported[CapSecrets]
	if (h.OpenWithSecret == nil) != noSecrets {
		return fmt.Errorf("brokertest: give OpenWithSecret or declare %s unsupported, not both or neither", CapSecrets)
	}
	return nil
}

// key names one message.
type key struct {
	producer int
	seq      uint64
}

func (k key) String() string { return fmt.Sprintf("p%d/%d", k.producer, k.seq) }

// payloadSize leaves room for the suite's producer and sequence number.
const payloadSize = 64

// payload is text (producer and sequence number in hex, then letters), so
// that it suits brokers whose bodies must be text (SQS) as well as the
// others.
func payload(k key) []byte {
	b := make([]byte, payloadSize)
	var id [16]byte
	binary.BigEndian.PutUint64(id[:], uint64(k.producer))
	binary.BigEndian.PutUint64(id[8:], k.seq)
	hex.Encode(b, id[:])
	for i := 2 * len(id); i < len(b); i++ {
		b[i] = 'a' + byte(k.seq+uint64(i))%26
	}
	return b
}

func keyOf(p []byte) (key, bool) {
	var id [16]byte
	if len(p) != payloadSize {
		return key{}, false
	}
	if _, err := hex.Decode(id[:], p[:2*len(id)]); err != nil {
		return key{}, false
	}
	return key{int(binary.BigEndian.Uint64(id[:])), binary.BigEndian.Uint64(id[8:])}, true
}

// delivery is one Handler call as the suite saw it.
type delivery struct {
	key
	sub, consumer int
	domain        string
	redelivered   bool
	pos           uint64
	hasPos        bool
}

// positionProblem says what is wrong when again, a redelivery of first's
// stored copy in the same domain, names another storage position (or has
// one where first had none): the position would then be a per-delivery
// handle, and the checker would count every redelivery as a message
// stored twice.
func positionProblem(first, again delivery) string {
	switch {
	case first.domain != again.domain:
		return ""
	case first.hasPos != again.hasPos:
		return fmt.Sprintf("%s came again in %s with HasPosition %v, first with %v", first.key, first.domain, again.hasPos, first.hasPos)
	case first.pos != again.pos:
		return fmt.Sprintf("%s came again at position %d of %s, first at %d: a redelivery of one stored copy must keep its storage position (the checker would count it stored twice)",
			first.key, again.pos, first.domain, first.pos)
	}
	return ""
}

// rig opens targets for one check and records what producers were told
// and what consumers received.
type rig struct {
	tb testing.TB
	h  Harness

	mu        sync.Mutex
	outcomes  map[key][]broker.Outcome
	errs      map[key]error
	overlap   int
	received  []delivery
	malformed int
	// notices are the consumers' (reconnects, drops), with when they
	// came: a failed check shows them.
	notices []string
	born    time.Time
}

var seq atomic.Int64

func newRig(tb testing.TB, h Harness) *rig {
	return &rig{tb: tb, h: h, outcomes: map[key][]broker.Outcome{}, errs: map[key]error{}, born: time.Now()}
}

// open opens a target with open, runs Setup, and closes everything at
// cleanup. The spec gets a destination of its own.
func (r *rig) open(ctx context.Context, open func(context.Context, broker.Spec, broker.Env) (*broker.Target, error),
	spec broker.Spec) (*broker.Target, error) {
	n := seq.Add(1)
	id := fmt.Sprintf("conf%d-%d", time.Now().UnixNano()%1e6, n)
	spec.Destination = "mqcheck-" + id
	env := broker.Env{RunID: id, Dir: r.tb.TempDir(), Seed: n}
	tgt, err := open(ctx, spec, env)
	if err != nil {
		return nil, fmt.Errorf("opening a target: %w", err)
	}
	r.tb.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := tgt.Driver.Close(cctx); err != nil {
			r.tb.Logf("closing the driver: %v", err)
		}
		if tgt.Close != nil {
			if err := tgt.Close(cctx); err != nil {
				r.tb.Logf("closing the target: %v", err)
			}
		}
	})
	if err := tgt.Driver.Setup(ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	return tgt, nil
}

// producer makes producer id recording every completion, checking that a
// producer's completions never overlap.
func (r *rig) producer(ctx context.Context, d broker.Driver, id int) (broker.Producer, error) {
	var busy atomic.Bool
	p, err := d.NewProducer(ctx, broker.ProducerOptions{ID: id, OnComplete: func(m *broker.Message, o broker.Outcome, err error) {
		if !busy.CompareAndSwap(false, true) {
			r.mu.Lock()
			r.overlap++
			r.mu.Unlock()
		}
		defer busy.Store(false)
		k := key{m.Producer, m.Seq}
		r.mu.Lock()
		r.outcomes[k] = append(r.outcomes[k], o)
		if err != nil {
			r.errs[k] = err
		}
		r.mu.Unlock()
	}})
	if err != nil {
		return nil, fmt.Errorf("new producer %d: %w", id, err)
	}
	r.tb.Cleanup(func() { _ = p.Close() })
	return p, nil
}

// publish sends seqs [from, from+n) of producer id.
func publish(ctx context.Context, p broker.Producer, id int, from uint64, n int) ([]key, error) {
	keys := make([]key, 0, n)
	for s := from; s < from+uint64(n); s++ {
		k := key{id, s}
		now := time.Now().UnixNano()
		m := &broker.Message{Producer: id, Seq: s, Payload: payload(k), Intended: now, Sent: now}
		if err := p.Publish(ctx, m); err != nil {
			return keys, fmt.Errorf("publishing %s: %w", k, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// consumer is a running consumer of the rig.
type consumer struct {
	c    broker.Consumer
	stop context.CancelFunc
	done chan error
}

// wait stops the consumer's Run and returns its error.
func (c *consumer) wait() error {
	c.stop()
	select {
	case err := <-c.done:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("Run did not return 30s after its context ended")
	}
}

// consume starts consumer id of subscription sub; every delivery is
// recorded, then handed to h (nil acknowledges everything).
func (r *rig) consume(ctx context.Context, d broker.Driver, id, sub int, h func(delivery) error) (*consumer, error) {
	c, err := d.NewConsumer(ctx, broker.ConsumerOptions{ID: id, Subscription: sub, Notify: r.notice})
	if err != nil {
		return nil, fmt.Errorf("new consumer %d: %w", id, err)
	}
	rctx, stop := context.WithCancel(ctx)
	cs := &consumer{c: c, stop: stop, done: make(chan error, 1)}
	go func() {
		cs.done <- c.Run(rctx, func(dl *broker.Delivery) error {
			k, ok := keyOf(dl.Payload)
			r.mu.Lock()
			if !ok {
				r.malformed++
				r.mu.Unlock()
				return nil
			}
			dv := delivery{key: k, sub: sub, consumer: id, domain: dl.Domain, redelivered: dl.Redelivered, pos: dl.Position, hasPos: dl.HasPosition}
			r.received = append(r.received, dv)
			r.mu.Unlock()
			if h != nil {
				return h(dv)
			}
			return nil
		})
	}()
	r.tb.Cleanup(func() {
		stop()
		_ = c.Close()
	})
	return cs, nil
}

// notice keeps a consumer's notice for a failed check to show; it never
// logs (a notice may come after the test ended).
func (r *rig) notice(n broker.Notice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.notices) < 50 {
		r.notices = append(r.notices, fmt.Sprintf("%s at +%s: %s", n.Kind, n.At.Sub(r.born).Round(time.Millisecond), n.Detail))
	}
}

// noticed is what the consumers noticed so far, for a failure's text.
func (r *rig) noticed() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.notices) == 0 {
		return "the consumers noticed nothing"
	}
	return "the consumers noticed: " + strings.Join(r.notices, "; ")
}

// until polls cond every 20 ms until it holds or ctx ends.
func until(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// missing lists the keys subscription sub has not received.
func (r *rig) missing(sub int, keys []key) []key {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := map[key]bool{}
	for _, d := range r.received {
		if d.sub == sub {
			got[d.key] = true
		}
	}
	var out []key
	for _, k := range keys {
		if !got[k] {
			out = append(out, k)
		}
	}
	return out
}

// waitReceived waits until subscription sub received every key.
func (r *rig) waitReceived(ctx context.Context, sub int, keys []key) []key {
	var left []key
	until(ctx, func() bool { left = r.missing(sub, keys); return len(left) == 0 })
	return left
}

// receivedAny reports whether subscription sub received any of keys.
func (r *rig) receivedAny(sub int, keys []key) bool {
	return len(r.missing(sub, keys)) < len(keys)
}

// deliveries returns a copy of what was received.
func (r *rig) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.received)
}

// outcomesOf returns the completions of k.
func (r *rig) outcomesOf(k key) []broker.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.outcomes[k])
}

// few shows at most a handful of keys.
func few(ks []key) string {
	s := make([]string, 0, 5)
	for i, k := range ks {
		if i == 5 {
			s = append(s, fmt.Sprintf("... (%d in all)", len(ks)))
			break
		}
		s = append(s, k.String())
	}
	return strings.Join(s, " ")
}

// ClosedAddr is a loopback address where nothing listens (a port the
// kernel handed out and took back): a broker that is not there.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Problems lists what cfg's Validate reports, one "field: message" line per
// problem, in its order.
func Problems(cfg broker.Config) []string {
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}
