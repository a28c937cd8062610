package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqcheck/mqcheck/broker"
)

// txnProducer is the producer of a run with transactional producers: every
// message goes into the producer's open transaction, which ends once it
// holds transaction_size messages (or at Flush): committed, or aborted when
// the abort plan says so or a record of it failed.
//
// Outcomes come from the end of the transaction, not from the produce
// answers: a record the broker stored is still invisible to read_committed
// consumers until its transaction commits, and gone for them if it aborts.
//
//	end of the transaction                         outcome of its messages
//	EndTxn(commit) answered                        Acked
//	EndTxn(abort) answered, first try              Aborted (a record refused for good: Failed)
//	no answer within request_timeout, or an error  Indeterminate (a record refused for good: Failed)
//	Close with the transaction open                Indeterminate
//
// Aborted is only said on the broker's own answer to an abort that was the
// first attempt to end the transaction: after a failed commit the records
// may have been committed, and a wrong Aborted would turn into a false
// "aborted read".
//
// Publish, Flush and Close are called by one goroutine (the swarm's loop);
// the transaction is ended, and its messages completed, on that goroutine,
// so completions never overlap. Publish blocks while it ends a transaction:
// the producer's next send waits for the commit, as an application's does.
type txnProducer struct {
	id         int
	cl         *kgo.Client
	topic      string
	partition  int32 // with the manual partitioner
	onComplete broker.Completion
	conn       *connState
	size       int
	plan       abortPlan
	endWait    time.Duration // bound on one EndTxn attempt
	numbers    *txnNumbers   // transaction numbers, per producer id, across crashes

	life   context.Context
	cancel context.CancelFunc

	promise  func(*kgo.Record, error)
	inFlight atomic.Int64 // promises not called yet

	mu     sync.Mutex // held while a transaction is ended or the producer closed
	open   []*broker.Message
	num    uint64 // the open transaction's number
	inTxn  bool
	closed atomic.Bool
}

// txnRec carries a message of a transaction through franz-go; its Context
// is itself, as pubRec's is.
type txnRec struct {
	context.Context
	rec kgo.Record
	msg *broker.Message
	err error // what the produce promise said
}

// txnNumbers numbers each producer's transactions from 1, across the
// producers a crash replaces, so evidence never names two transactions of
// one producer alike.
type txnNumbers struct {
	mu   sync.Mutex
	last map[int]uint64
}

func (t *txnNumbers) next(producer int) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[int]uint64)
	}
	t.last[producer]++
	return t.last[producer]
}

// abortPlan picks the transactions a producer aborts on purpose: ratio of
// them, evenly spread from a seeded phase, so that any n transactions in a
// row hold n*ratio aborted ones, rounded down or up (40 of ratio 0.25: 10).
type abortPlan struct {
	perMillion uint64 // the ratio, to a millionth
	phase      uint64
}

func newAbortPlan(ratio float64, seed int64, producer int) abortPlan {
	z := uint64(seed) ^ uint64(producer)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return abortPlan{perMillion: uint64(ratio*1e6 + 0.5), phase: (z ^ z>>31) % 1_000_000}
}

// aborts reports whether transaction n (from 1) is aborted on purpose.
func (a abortPlan) aborts(n uint64) bool {
	k := n + a.phase
	return k*a.perMillion/1e6 > (k-1)*a.perMillion/1e6
}

func (d *driver) newTxnProducer(o broker.ProducerOptions) (*txnProducer, error) {
	who := fmt.Sprintf("producer %d", o.ID)
	clientID := fmt.Sprintf("mqcheck-%s-p%d", d.set.runID, o.ID)
	opts, err := d.set.clientOpts(d.seeds, clientID)
	if err != nil {
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	k := &d.set.k
	p := &txnProducer{
		id:         o.ID,
		topic:      d.set.topic,
		onComplete: o.OnComplete,
		conn:       newConnState(who, int16(kmsg.Produce), o.Notify),
		size:       k.TransactionSize,
		plan:       newAbortPlan(k.AbortRatio, d.set.env.Seed, o.ID),
		endWait:    k.RequestTimeout.D(),
		numbers:    &d.txns,
	}
	if k.Partitioner == "manual" {
		p.partition = int32(o.ID % d.partitionCount())
	}
	p.life, p.cancel = context.WithCancel(context.Background())
	p.promise = p.produced
	opts = append(opts, d.set.producerOpts()...)
	// The same id for the producer a crash replaces: the new one fences
	// the old, whose open transaction the broker then aborts.
	opts = append(opts, kgo.TransactionalID(d.set.txnID(o.ID)), kgo.WithHooks(p.conn))
	if p.cl, err = kgo.NewClient(opts...); err != nil {
		p.cancel()
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	return p, nil
}

// PublishWaits: the Publish that fills a transaction commits it, a round
// trip to the coordinator (broker.PublishWaiter).
func (p *txnProducer) PublishWaits() bool { return true }

// Publish adds m to the open transaction (beginning one if none is open)
// and ends the transaction once it is full.
func (p *txnProducer) Publish(ctx context.Context, m *broker.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publishing seq %d of producer %d: %w", m.Seq, p.id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return fmt.Errorf("publishing seq %d of kafka producer %d: %w", m.Seq, p.id, errClosed)
	}
	if !p.inTxn {
		if err := p.begin(ctx); err != nil {
			return fmt.Errorf("publishing seq %d of kafka producer %d: %w", m.Seq, p.id, err)
		}
	}
	r, _ := m.Private.(*txnRec)
	if r == nil || r.Context != p.life {
		r = &txnRec{Context: p.life}
		m.Private = r
	}
	r.msg, r.err = m, nil
	r.rec = kgo.Record{Key: m.Key, Value: m.Payload, Topic: p.topic, Partition: p.partition, Context: r}
	if m.Sent != 0 {
		r.rec.Timestamp = time.Unix(0, m.Sent)
	}
	p.inFlight.Add(1)
	p.open = append(p.open, m)
	p.cl.Produce(p.life, &r.rec, p.promise)
	if len(p.open) >= p.size {
		// A transaction that cannot end now (ctx ended) stays open for
		// Flush or Close: the message is published either way.
		_ = p.end(ctx)
	}
	return nil
}

// begin opens a transaction. A producer whose last end went unanswered
// recovers first (franz-go reloads its producer id, which aborts whatever
// the broker still has open).
func (p *txnProducer) begin(ctx context.Context) error {
	err := p.cl.BeginTransaction()
	if err != nil {
		ectx, cancel := context.WithTimeout(ctx, p.endWait)
		aerr := p.cl.EndTransaction(ectx, kgo.TryAbort)
		cancel()
		if err = p.cl.BeginTransaction(); err != nil {
			return fmt.Errorf("beginning a transaction: %w", errors.Join(err, aerr))
		}
	}
	p.inTxn, p.num = true, p.numbers.next(p.id)
	return nil
}

// produced is the promise of every record: it only notes the answer; the
// outcome comes when the transaction ends.
func (p *txnProducer) produced(rec *kgo.Record, err error) {
	rec.Context.(*txnRec).err = err
	p.inFlight.Add(-1)
}

// end flushes the open transaction and ends it, then completes its
// messages. It fails only when ctx ends before the records were flushed;
// the transaction then stays open.
func (p *txnProducer) end(ctx context.Context) error {
	if !p.inTxn || len(p.open) == 0 {
		return nil
	}
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing transaction %d of kafka producer %d (%d messages): %w", p.num, p.id, len(p.open), err)
	}
	refused := false
	for _, m := range p.open {
		if err := m.Private.(*txnRec).err; err != nil {
			refused = true
		}
	}
	abort := refused || p.plan.aborts(p.num)
	how := kgo.TryCommit
	if abort {
		how = kgo.TryAbort
	}
	ectx, cancel := context.WithTimeout(p.life, p.endWait)
	err := p.cl.EndTransaction(ectx, how)
	cancel()
	outcome := broker.Acked
	switch {
	case err != nil:
		outcome = broker.Indeterminate
		err = fmt.Errorf("ending transaction %d of kafka producer %d (commit %v): the answer was lost: %w", p.num, p.id, !abort, err)
		// franz-go's documented way out of an unconfirmed end: abort,
		// which reloads the producer id and fences anything still open.
		hctx, cancel := context.WithTimeout(p.life, p.endWait)
		_ = p.cl.EndTransaction(hctx, kgo.TryAbort)
		cancel()
	case abort:
		outcome = broker.Aborted
	}
	p.complete(outcome, err)
	return nil
}

// complete hands every message of the open transaction its outcome (a
// record the broker refused for good keeps Failed) and closes the
// transaction.
func (p *txnProducer) complete(o broker.Outcome, err error) {
	for _, m := range p.open {
		r := m.Private.(*txnRec)
		mo, merr := o, err
		if r.err != nil && outcomeOf(r.err) == broker.Failed {
			mo, merr = broker.Failed, r.err
		}
		r.msg, r.err = nil, nil
		m.Txn = p.num
		p.onComplete(m, mo, merr)
	}
	clear(p.open)
	p.open = p.open[:0]
	p.inTxn = false
}

// Flush ends the open transaction, however few messages it holds.
func (p *txnProducer) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.end(ctx)
}

// Close drops the client with the open transaction unended: its messages
// are indeterminate (the broker aborts the transaction when it times out,
// or when a producer with the same transactional id starts).
func (p *txnProducer) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.conn.closing.Store(true)
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cl.Close()
	deadline := time.Now().Add(closeWait)
	for p.inFlight.Load() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("closing kafka producer %d: %d records never completed", p.id, p.inFlight.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if len(p.open) > 0 {
		p.complete(broker.Indeterminate, fmt.Errorf("transaction %d of kafka producer %d: %w with the transaction open", p.num, p.id, errClosed))
	}
	return nil
}
