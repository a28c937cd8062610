package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mqcheck/mqcheck/broker"
)

// Set MQCHECK_TEST_LOG=1 to see franz-go's and kfake's warnings.
func testLog() *slog.Logger {
	if os.Getenv("MQCHECK_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

var runSeq atomic.Int64

// testSetup is what a test opens: the driver's configuration and what the
// run asks of it.
type testSetup struct {
	cfg  *Config
	spec broker.Spec
}

// testScenario is a small embedded Kafka setup; mutate adjusts it.
func testScenario(mutate func(*testSetup)) *testSetup {
	s := &testSetup{
		cfg:  &Config{Brokers: 3, Partitions: 6},
		spec: broker.Spec{Target: broker.TargetEmbedded, Producers: 3, MaxInFlight: 1000, Consumers: 1, Subscriptions: 1},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// openTarget opens s, runs Setup, and closes driver and target at cleanup.
func openTarget(t *testing.T, s *testSetup) *broker.Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := broker.Env{
		RunID: fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e6, runSeq.Add(1)),
		Dir:   t.TempDir(),
		Log:   testLog(),
	}
	tgt, err := Open(ctx, s.cfg, s.spec, env)
	if err != nil {
		t.Fatalf("opening target: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := tgt.Driver.Close(ctx); err != nil {
			t.Errorf("closing driver: %v", err)
		}
		if err := tgt.Close(ctx); err != nil {
			t.Errorf("closing target: %v", err)
		}
	})
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatalf("setup: %v", err)
	}
	return tgt
}

// groupOf names the consumer group of subscription sub.
func groupOf(tgt *broker.Target, sub int) string {
	return tgt.Driver.(*driver).set.groupName(sub)
}

// topicOf is the target's topic.
func topicOf(tgt *broker.Target) string {
	return tgt.Driver.(*driver).set.topic
}

// cluster is the embedded target's running kfake cluster.
func cluster(t *testing.T, tgt *broker.Target) *kfake.Cluster {
	t.Helper()
	e, ok := tgt.Restarter.(*embedded)
	if !ok || e.kfake() == nil {
		t.Fatal("target has no running embedded cluster")
	}
	return e.kfake()
}

type msgKey struct {
	producer int
	seq      uint64
}

func payload(producer int, seq uint64) []byte {
	return []byte(fmt.Sprintf("%d:%d", producer, seq))
}

func parsePayload(b []byte) (msgKey, error) {
	p, s, ok := strings.Cut(string(b), ":")
	if !ok {
		return msgKey{}, fmt.Errorf("payload %q is not producer:seq", b)
	}
	pi, err1 := strconv.Atoi(p)
	si, err2 := strconv.ParseUint(s, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return msgKey{}, fmt.Errorf("payload %q: %w", b, err)
	}
	return msgKey{pi, si}, nil
}

// outcomes records every completion, checking each message completes once.
type outcomes struct {
	mu    sync.Mutex
	byKey map[msgKey]broker.Outcome
	errs  map[msgKey]error
	twice int
	done  chan msgKey // optional: each completion, for sequential tests
}

func newOutcomes() *outcomes {
	return &outcomes{byKey: make(map[msgKey]broker.Outcome), errs: make(map[msgKey]error)}
}

func (o *outcomes) complete(m *broker.Message, out broker.Outcome, err error) {
	k := msgKey{m.Producer, m.Seq}
	o.mu.Lock()
	if _, ok := o.byKey[k]; ok {
		o.twice++
	}
	o.byKey[k] = out
	if err != nil {
		o.errs[k] = err
	}
	o.mu.Unlock()
	if o.done != nil {
		o.done <- k
	}
}

func (o *outcomes) count(want broker.Outcome) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, out := range o.byKey {
		if out == want {
			n++
		}
	}
	return n
}

func (o *outcomes) keys(want broker.Outcome) []msgKey {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ks []msgKey
	for k, out := range o.byKey {
		if out == want {
			ks = append(ks, k)
		}
	}
	return ks
}

// received counts deliveries of one subscription and checks order: within a
// partition, a producer's first deliveries must come in increasing seq.
type received struct {
	mu        sync.Mutex
	count     map[msgKey]int
	total     int
	reordered int
	bad       []error
	last      map[string]map[int]uint64 // domain -> producer -> highest seq
	domains   map[string]bool
}

func newReceived() *received {
	return &received{count: make(map[msgKey]int), last: make(map[string]map[int]uint64), domains: make(map[string]bool)}
}

func (r *received) handler(d *broker.Delivery) error {
	k, err := parsePayload(d.Payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad = append(r.bad, err)
		return nil
	}
	if d.Redelivered {
		r.bad = append(r.bad, fmt.Errorf("%v flagged redelivered: kafka has no such flag", k))
	}
	r.total++
	r.domains[d.Domain] = true
	r.count[k]++
	if r.count[k] == 1 {
		lp := r.last[d.Domain]
		if lp == nil {
			lp = make(map[int]uint64)
			r.last[d.Domain] = lp
		}
		if prev, ok := lp[k.producer]; ok && k.seq < prev {
			r.reordered++
		}
		lp[k.producer] = max(lp[k.producer], k.seq)
	}
	return nil
}

func (r *received) unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

func (r *received) has(ks []msgKey) (missing int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range ks {
		if r.count[k] == 0 {
			missing++
		}
	}
	return missing
}

// duplicates is the deliveries beyond the first, by message.
func (r *received) duplicates() map[msgKey]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := make(map[msgKey]int)
	for k, n := range r.count {
		if n > 1 {
			d[k] = n - 1
		}
	}
	return d
}

// notices collects driver notices.
type notices struct {
	mu  sync.Mutex
	all []broker.Notice
}

func (n *notices) add(x broker.Notice) {
	n.mu.Lock()
	n.all = append(n.all, x)
	n.mu.Unlock()
}

func (n *notices) kinds() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := make(map[string]int)
	for _, x := range n.all {
		m[x.Kind]++
	}
	return m
}

// assignment replays rebalance notices of one group: partition -> consumer.
func (n *notices) assignment(group string) map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	owner := make(map[string]string)
	for _, x := range n.all {
		if x.Kind != "rebalance" || !strings.Contains(x.Detail, " of "+group+" ") {
			continue
		}
		who, rest, _ := strings.Cut(x.Detail, " of "+group+" ")
		what, parts, _ := strings.Cut(rest, " ")
		for _, p := range strings.Fields(parts) {
			if what == "assigned" {
				owner[p] = who
			} else if owner[p] == who {
				delete(owner, p)
			}
		}
	}
	return owner
}

// startConsumer runs a consumer of subscription sub until the test ends.
func startConsumer(t *testing.T, d broker.Driver, id, sub int, r *received, n *notices) broker.Consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := d.NewConsumer(ctx, broker.ConsumerOptions{ID: id, Subscription: sub, Notify: n.add})
	if err != nil {
		cancel()
		t.Fatalf("new consumer %d: %v", id, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, r.handler) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer %d: %v", id, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("consumer %d: Run did not return", id)
		}
		if err := c.Close(); err != nil {
			t.Errorf("closing consumer %d: %v", id, err)
		}
	})
	return c
}

// newProducer makes a producer that records into o and is closed at cleanup.
func newProducer(t *testing.T, d broker.Driver, id int, o *outcomes, n *notices) broker.Producer {
	t.Helper()
	p, err := d.NewProducer(context.Background(), broker.ProducerOptions{ID: id, OnComplete: o.complete, Notify: n.add})
	if err != nil {
		t.Fatalf("new producer %d: %v", id, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing producer %d: %v", id, err)
		}
	})
	return p
}

func message(producer int, seq uint64) *broker.Message {
	now := time.Now().UnixNano()
	return &broker.Message{Producer: producer, Seq: seq, Payload: payload(producer, seq), Intended: now, Sent: now}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// waitAssigned waits until every partition of group has an owner and each
// of the group's consumers owns at least one.
func waitAssigned(ctx context.Context, n *notices, group string, partitions, consumers int) error {
	return waitFor(ctx, "assignment of "+group, func() bool {
		a := n.assignment(group)
		owners := make(map[string]bool)
		for _, o := range a {
			owners[o] = true
		}
		return len(a) == partitions && len(owners) == min(consumers, partitions)
	})
}
