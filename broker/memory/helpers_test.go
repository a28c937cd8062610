package memory

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// testTimeout bounds every wait of a test; a healthy run takes milliseconds.
const testTimeout = 20 * time.Second

// Test payloads stand in for the swarm's header: producer, sequence, filler
// and a CRC over the rest, so a flipped byte is seen and the message named.
const payloadSize = 64

func encode(buf []byte, producer int, seq uint64) {
	binary.LittleEndian.PutUint64(buf[0:], uint64(producer))
	binary.LittleEndian.PutUint64(buf[8:], seq)
	for i := 16; i < payloadSize-4; i++ {
		buf[i] = byte(seq) + byte(i)
	}
	binary.LittleEndian.PutUint32(buf[payloadSize-4:], crc32.ChecksumIEEE(buf[:payloadSize-4]))
}

func decode(p []byte) (producer int, seq uint64, intact bool, err error) {
	if len(p) != payloadSize {
		return 0, 0, false, fmt.Errorf("payload of %d bytes, want %d", len(p), payloadSize)
	}
	producer = int(binary.LittleEndian.Uint64(p[0:]))
	seq = binary.LittleEndian.Uint64(p[8:])
	intact = crc32.ChecksumIEEE(p[:payloadSize-4]) == binary.LittleEndian.Uint32(p[payloadSize-4:])
	return producer, seq, intact, nil
}

// waitFor polls cond until it holds or the context ends.
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// loadSpec describes one load run against the broker.
type loadSpec struct {
	cfg       Config
	subs      int
	perSub    int // consumers per subscription
	producers int
	messages  int // per producer
	keys      int // key space; 0 publishes without keys
	seed      int64
	// handover gives consumers a Handover hook that counts its calls in
	// rig.handovers.
	handover bool
}

// delivered is one Handler call as a test sees it.
type delivered struct {
	stamp       int64 // global order of handler calls
	sub, cons   int
	domain      string
	producer    int
	seq         uint64
	redelivered bool
	corrupt     bool
}

// hook lets a test act inside a consumer's handler; a non-nil error is
// returned to the broker. n counts the consumer's deliveries, this one included.
type hook func(r *rig, cons, n int, d delivered) error

// rig drives a broker with a load and records what every consumer saw,
// so a test can count anomalies as a checker would.
type rig struct {
	t    *testing.T
	b    *Broker
	spec loadSpec
	hook hook

	stamp     atomic.Int64
	logs      [][]delivered // per consumer, written by its Run goroutine only
	outcomes  [][]broker.Outcome
	consumers []broker.Consumer
	notices   atomic.Int64
	handovers []atomic.Int64 // per consumer, with loadSpec.handover
	runs      sync.WaitGroup
	runErrs   []error
}

func newRig(t *testing.T, spec loadSpec) *rig {
	t.Helper()
	b, err := New(spec.cfg, spec.subs, spec.seed)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	r := &rig{t: t, b: b, spec: spec}
	n := spec.subs * spec.perSub
	r.logs = make([][]delivered, n)
	r.consumers = make([]broker.Consumer, n)
	r.runErrs = make([]error, n)
	r.handovers = make([]atomic.Int64, n)
	for i := range n {
		var handover func()
		if spec.handover {
			handover = func() { r.handovers[i].Add(1) }
		}
		c, err := b.NewConsumer(context.Background(), broker.ConsumerOptions{
			Handover:     handover,
			ID:           i,
			Subscription: i / spec.perSub,
			Notify: func(nt broker.Notice) {
				if nt.Kind != "rebalance" || nt.Detail == "" {
					t.Errorf("notice %+v, want a rebalance with a detail", nt)
				}
				r.notices.Add(1)
			},
		})
		if err != nil {
			t.Fatalf("NewConsumer: %v", err)
		}
		r.consumers[i] = c
	}
	return r
}

// start runs consumer i until ctx ends.
func (r *rig) start(ctx context.Context, i int) {
	r.runs.Add(1)
	go func() {
		defer r.runs.Done()
		r.runErrs[i] = r.consumers[i].Run(ctx, func(d *broker.Delivery) error {
			p, seq, intact, err := decode(d.Payload)
			if err != nil {
				r.t.Errorf("consumer %d: %v", i, err)
				return nil
			}
			rec := delivered{
				stamp: r.stamp.Add(1), sub: i / r.spec.perSub, cons: i, domain: d.Domain,
				producer: p, seq: seq, redelivered: d.Redelivered, corrupt: !intact,
			}
			r.logs[i] = append(r.logs[i], rec)
			if r.hook != nil {
				return r.hook(r, i, len(r.logs[i]), rec)
			}
			return nil
		})
	}()
}

// members counts the running consumers of every subscription.
func (r *rig) members() int {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	n := 0
	for _, s := range r.b.subs {
		n += len(s.members)
	}
	return n
}

// startAll starts every consumer and waits until all have joined, so that
// publishing starts on a stable assignment.
func (r *rig) startAll(ctx context.Context) {
	r.t.Helper()
	for i := range r.consumers {
		r.start(ctx, i)
	}
	waitFor(ctx, r.t, "every consumer to join", func() bool { return r.members() == len(r.consumers) })
}

// publish sends every producer's messages concurrently and flushes.
func (r *rig) publish(ctx context.Context) []broker.Producer {
	r.t.Helper()
	r.outcomes = make([][]broker.Outcome, r.spec.producers)
	ps := make([]broker.Producer, r.spec.producers)
	for i := range ps {
		r.outcomes[i] = make([]broker.Outcome, r.spec.messages)
		var busy atomic.Bool
		p, err := r.b.NewProducer(ctx, broker.ProducerOptions{ID: i, OnComplete: func(m *broker.Message, o broker.Outcome, err error) {
			if !busy.CompareAndSwap(false, true) {
				r.t.Errorf("producer %d: overlapping OnComplete calls", i)
			}
			defer busy.Store(false)
			if (o == broker.Acked) != (err == nil) {
				r.t.Errorf("producer %d seq %d: outcome %s with error %v", i, m.Seq, o, err)
			}
			if r.outcomes[i][m.Seq] != 0 {
				r.t.Errorf("producer %d seq %d: completed twice", i, m.Seq)
			}
			r.outcomes[i][m.Seq] = o
		}})
		if err != nil {
			r.t.Fatalf("NewProducer: %v", err)
		}
		ps[i] = p
	}
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			// One buffer per producer, scribbled on after each Publish: the
			// broker must have copied it.
			buf := make([]byte, payloadSize)
			for seq := range uint64(r.spec.messages) {
				encode(buf, i, seq)
				m := &broker.Message{Producer: i, Seq: seq, Payload: buf}
				if r.spec.keys > 0 {
					m.Key = []byte(strconv.Itoa(int(seq) % r.spec.keys))
				}
				if err := p.Publish(ctx, m); err != nil {
					r.t.Errorf("Publish: %v", err)
					return
				}
				clear(buf)
			}
			if err := p.Flush(ctx); err != nil {
				r.t.Errorf("Flush: %v", err)
			}
		})
	}
	wg.Wait()
	return ps
}

// drain waits for the backlog to reach zero.
func (r *rig) drain(ctx context.Context) {
	r.t.Helper()
	for {
		n, err := r.b.Backlog(ctx)
		if err != nil {
			r.t.Fatalf("Backlog: %v", err)
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			r.t.Fatalf("backlog stuck at %d: %v", n, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// stop ends every consumer (cancel) and waits for their Run calls.
func (r *rig) stop(ctx context.Context, cancel context.CancelFunc) {
	r.t.Helper()
	cancel()
	done := make(chan struct{})
	go func() { r.runs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		r.t.Fatal("consumers did not return after cancel")
	}
	for i, err := range r.runErrs {
		if err != nil {
			r.t.Errorf("consumer %d Run: %v", i, err)
		}
	}
}

// run is the whole known-answer sequence: consume, publish, drain, stop.
func (r *rig) run() observed {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	r.startAll(cctx)
	ps := r.publish(ctx)
	r.drain(ctx)
	r.stop(ctx, ccancel)
	for _, p := range ps {
		if err := p.Close(); err != nil {
			r.t.Errorf("producer Close: %v", err)
		}
	}
	return r.observe()
}

// observed is what a checker would count, by the definitions of DESIGN.md.
type observed struct {
	faults Faults
	// events name every anomaly, sorted, to compare runs.
	events []string
	// flaggedFirst counts first deliveries flagged redelivered, which the
	// broker should only produce after a crash of a handler.
	flaggedFirst int
}

func (r *rig) observe() observed {
	var all []delivered
	for _, l := range r.logs {
		all = append(all, l...)
	}
	slices.SortFunc(all, func(a, b delivered) int { return int(a.stamp - b.stamp) })

	type msg struct {
		sub, producer int
		seq           uint64
	}
	type domain struct {
		sub      int
		domain   string
		producer int
	}
	o := observed{faults: Faults{Window: r.b.Config().Faults.Window}}
	f := &o.faults
	ev := func(format string, args ...any) { o.events = append(o.events, fmt.Sprintf(format, args...)) }
	count := map[msg]int{}
	top := map[domain]uint64{}
	for _, d := range all {
		if d.producer >= r.spec.producers || d.seq >= uint64(r.spec.messages) {
			r.t.Errorf("delivered p%d/%d, which was never published", d.producer, d.seq)
			continue
		}
		k := msg{d.sub, d.producer, d.seq}
		n := count[k]
		count[k]++
		if d.corrupt {
			// Not trusted for order: a checker cannot rely on a payload
			// whose checksum fails.
			f.Corrupt++
			ev("corrupt p%d/%d s%d", d.producer, d.seq, d.sub)
			continue
		}
		switch {
		case n > 0 && d.redelivered:
			f.DuplicateRedelivered++
			ev("duplicate_redelivered p%d/%d s%d", d.producer, d.seq, d.sub)
		case n > 0:
			f.Duplicate++
			ev("duplicate p%d/%d s%d", d.producer, d.seq, d.sub)
		case d.redelivered:
			o.flaggedFirst++
		}
		dk := domain{d.sub, d.domain, d.producer}
		hi, seen := top[dk]
		if n == 0 && seen && d.seq < hi {
			f.Reorder++
			ev("reorder p%d/%d s%d", d.producer, d.seq, d.sub)
		}
		if !seen || d.seq > hi {
			top[dk] = d.seq
		}
	}
	for p, outs := range r.outcomes {
		for seq, out := range outs {
			got := 0
			for s := range r.spec.subs {
				if count[msg{s, p, uint64(seq)}] > 0 {
					got++
				}
			}
			switch out {
			case broker.Acked:
				for s := range r.spec.subs {
					if count[msg{s, p, uint64(seq)}] == 0 {
						f.Drop++
						ev("drop p%d/%d s%d", p, seq, s)
					}
				}
				continue
			case broker.Indeterminate:
				if got > 0 {
					f.WithholdAckDelivered++
					ev("withhold_ack_delivered p%d/%d", p, seq)
				} else {
					f.WithholdAckDropped++
					ev("withhold_ack_dropped p%d/%d", p, seq)
				}
			case broker.Failed:
				if got > 0 {
					f.Phantom++
					ev("phantom p%d/%d", p, seq)
				} else {
					f.Reject++
					ev("reject p%d/%d", p, seq)
				}
			default:
				r.t.Errorf("p%d/%d never completed", p, seq)
			}
			if got != 0 && got != r.spec.subs {
				r.t.Errorf("p%d/%d (%s) reached %d of %d subscriptions", p, seq, out, got, r.spec.subs)
			}
		}
	}
	slices.Sort(o.events)
	return o
}
