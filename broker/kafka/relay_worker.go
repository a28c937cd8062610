package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// relayWorker is one instance of a relay worker: one franz-go client (a
// GroupTransactSession when the relay is transactional) that polls the
// producers' topic and writes the relay's.
type relayWorker struct {
	r      *relay
	i, gen int
	kill   killSwitch
	cl     *kgo.Client
	sess   *kgo.GroupTransactSession // transactional relays only

	ctx    context.Context // ends when the relay stops or the instance is put down
	cancel context.CancelFunc
	done   chan struct{} // closed when run returned

	// retired: a fault took the worker over (it will be replaced); its
	// end is no failure to restart it from.
	retired atomic.Bool

	mu      sync.Mutex
	pending *hookReq // a fault's request, taken at the start of a batch

	firstCommit chan struct{} // closed at the instance's first commit
	firstOnce   sync.Once
	closeOnce   sync.Once

	// What the broker answered to the records written since the last
	// reset (the zombie's writes).
	accepted, refused atomic.Int64
	refusal           atomic.Pointer[error]
	promise           func(*kgo.Record, error)
}

type hookKind int

const (
	hookCrash hookKind = iota + 1
	hookZombie
)

// hookReq is a fault's request to a worker: act in the middle of the next
// batch.
type hookReq struct {
	kind    hookKind
	reached chan *hookPoint
}

// hookPoint is where a worker stopped for a fault: half its batch written
// and flushed.
type hookPoint struct {
	written, batch int
	resume         chan struct{}     // zombie: closed to go on
	result         chan zombieResult // zombie: what going on did
	// The zombie's producer id and epoch before the new instance fenced
	// them (transactional relays).
	pid   int64
	epoch int16
}

// zombieResult is what a fenced instance did when it went on.
type zombieResult struct {
	wrote, accepted int
	refusal         error // the broker's answer to the first write it refused
	committed       bool
	err             error
}

func (z zombieResult) commit() string {
	s := "the broker accepted the commit"
	if z.err != nil {
		s = "the broker refused it: " + z.err.Error()
	}
	if z.refusal != nil {
		s += " (its writes were refused with " + z.refusal.Error() + ")"
	}
	return s
}

func (r *relay) newWorker(i, gen int) (*relayWorker, error) {
	w := &relayWorker{r: r, i: i, gen: gen, done: make(chan struct{}), firstCommit: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(r.ctx)
	w.promise = w.produced
	st := r.set
	id := st.relayID(i)
	opts, err := st.clientOptsDialing(r.seeds, fmt.Sprintf("%s-g%d", id, gen), w.kill.wrap)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumerGroup(st.relayGroup()),
		kgo.ConsumeTopics(st.topic),
		// Static membership: a new instance takes over the old one's
		// member (and partitions) at once, and fences it.
		kgo.InstanceID(id),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(heartbeatInterval),
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic(st.relayTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(st.k.Linger.D()),
		kgo.ProduceRequestTimeout(st.k.RequestTimeout.D()),
		kgo.MaxBufferedRecords(max(minBufferedRecords, 2*relayBatch)),
	)
	if st.relay.Transactional {
		opts = append(opts, kgo.TransactionalID(id), kgo.TransactionTimeout(relayTxnTimeout))
		if w.sess, err = kgo.NewGroupTransactSession(opts...); err != nil {
			w.cancel()
			return nil, err
		}
		w.cl = w.sess.Client()
		return w, nil
	}
	// A rebalance waits until a poll's records are written and their
	// offsets committed.
	opts = append(opts, kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll())
	if w.cl, err = kgo.NewClient(opts...); err != nil {
		w.cancel()
		return nil, err
	}
	return w, nil
}

// run relays until the relay stops, a fault ends the instance, or an error
// only a new instance can get past.
func (w *relayWorker) run() error {
	defer close(w.done)
	for {
		var fs kgo.Fetches
		if w.sess != nil {
			fs = w.sess.PollRecords(w.ctx, relayBatch)
		} else {
			fs = w.cl.PollRecords(w.ctx, relayBatch)
		}
		if fs.IsClientClosed() || w.ctx.Err() != nil {
			w.cl.AllowRebalance()
			return nil
		}
		if err := fatalFetchError(fs); err != nil {
			w.cl.AllowRebalance()
			return err
		}
		recs := fs.Records()
		if len(recs) == 0 {
			w.cl.AllowRebalance()
			continue
		}
		var err error
		var ended bool
		if w.sess != nil {
			ended, err = w.batchTxn(recs)
		} else {
			ended, err = w.batch(recs)
			w.cl.AllowRebalance()
		}
		if ended || err != nil {
			return err
		}
	}
}

// batchTxn writes recs in a transaction that commits their offsets. ended:
// a fault ended the instance.
func (w *relayWorker) batchTxn(recs []*kgo.Record) (ended bool, err error) {
	if err := w.sess.Begin(); err != nil {
		return false, fmt.Errorf("beginning a transaction: %w", err)
	}
	if w.write(recs) {
		return true, nil
	}
	committed, err := w.sess.End(w.ctx, kgo.TryCommit)
	switch {
	case w.ctx.Err() != nil:
		return true, nil
	case err != nil:
		// franz-go: no error of End is retryable; a new instance
		// starts from the committed offsets.
		return false, fmt.Errorf("ending a transaction of %d records: %w", len(recs), err)
	case committed:
		w.firstOnce.Do(func() { close(w.firstCommit) })
	}
	// Not committed: the group rebalanced, the session rewound to the
	// committed offsets, and the records come again.
	return false, nil
}

// batch writes recs, waits for every answer, then commits their offsets.
func (w *relayWorker) batch(recs []*kgo.Record) (ended bool, err error) {
	w.accepted.Store(0)
	w.refused.Store(0)
	if w.write(recs) {
		return true, nil
	}
	if err := w.cl.Flush(w.ctx); err != nil {
		return true, nil // the relay is stopping
	}
	if n := w.refused.Load(); n > 0 {
		// Nothing may be committed past a record not written: a new
		// instance reads from the last commit (and writes the rest
		// again).
		return false, fmt.Errorf("%d of %d records refused by the broker", n, len(recs))
	}
	if err := w.cl.CommitRecords(w.ctx, recs...); err != nil {
		if w.ctx.Err() != nil {
			return true, nil
		}
		return false, fmt.Errorf("committing the offsets of %d records written: %w", len(recs), err)
	}
	w.firstOnce.Do(func() { close(w.firstCommit) })
	return false, nil
}

// write produces recs to the relay's topic, each to its own partition
// number, acting on a fault's request half way. ended: a fault ended the
// instance (a crash, or a zombie that went on and was answered).
func (w *relayWorker) write(recs []*kgo.Record) (ended bool) {
	hook := w.take()
	half := max(1, len(recs)/2)
	out := make([]kgo.Record, len(recs))
	hop := []byte(strconv.Itoa(w.i) + "." + strconv.Itoa(w.gen))
	var point *hookPoint
	for j, in := range recs {
		if hook != nil && j == half {
			if point = w.stopAt(hook, j, len(recs)); point == nil {
				return true
			}
		}
		out[j] = kgo.Record{Topic: w.r.set.relayTopic, Partition: in.Partition, Key: in.Key, Value: in.Value,
			Headers: append(in.Headers[:len(in.Headers):len(in.Headers)], kgo.RecordHeader{Key: relayHeader, Value: hop})}
		w.cl.Produce(w.ctx, &out[j], w.promise)
	}
	if hook != nil && point == nil {
		// Fewer records than the middle: act at the end.
		if point = w.stopAt(hook, len(recs), len(recs)); point == nil {
			return true
		}
	}
	if point == nil {
		return false
	}
	w.goOnFenced(point, recs, len(recs)-point.written)
	return true
}

// relayHeader names the relay worker and instance that wrote a record
// (worker.instance), for people reading the topic; mqcheck's header in the
// value is untouched.
const relayHeader = "mqcheck-relay"

// stopAt flushes what was written of the batch, then answers the fault:
// a crash ends here (nil); a zombie waits until told to go on.
func (w *relayWorker) stopAt(hook *hookReq, written, batch int) *hookPoint {
	_ = w.cl.Flush(w.ctx)
	p := &hookPoint{written: written, batch: batch}
	if hook.kind == hookZombie {
		p.resume, p.result = make(chan struct{}), make(chan zombieResult, 1)
	}
	if hook.kind == hookZombie && w.sess != nil {
		p.pid, p.epoch, _ = w.cl.ProducerID(w.ctx)
	}
	hook.reached <- p
	if hook.kind == hookCrash {
		return nil
	}
	select {
	case <-p.resume:
	case <-w.ctx.Done():
		return nil
	}
	w.accepted.Store(0)
	w.refused.Store(0)
	w.refusal.Store(nil)
	return p
}

// goOnFenced is a zombie's end of its batch: it waits for the broker's
// answers to what it wrote after the new instance took over, then commits
// as if nothing had happened. A transactional zombie sends EndTxn itself,
// with the producer id and epoch it had before (the session would abort
// on its own, seeing its partitions lost, and franz-go would not send a
// commit for a producer id it knows failed: the point is what the broker
// does with a commit from a fenced instance). A relay without
// transactions commits its input offsets.
func (w *relayWorker) goOnFenced(p *hookPoint, recs []*kgo.Record, wrote int) {
	ctx, cancel := context.WithTimeout(w.ctx, relayTakeover)
	defer cancel()
	_ = w.cl.Flush(ctx)
	res := zombieResult{wrote: wrote, accepted: int(w.accepted.Load())}
	if e := w.refusal.Load(); e != nil {
		res.refusal = *e
	}
	if w.sess != nil {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID = w.r.set.relayID(w.i)
		req.ProducerID, req.ProducerEpoch, req.Commit = p.pid, p.epoch, true
		resp, err := req.RequestWith(ctx, w.cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		res.err = err
	} else {
		res.err = w.cl.CommitRecords(ctx, recs...)
	}
	res.committed = res.err == nil
	p.result <- res
}

func (w *relayWorker) produced(_ *kgo.Record, err error) {
	if err != nil {
		w.refusal.CompareAndSwap(nil, &err)
		w.refused.Add(1)
		return
	}
	w.accepted.Add(1)
}

// ask posts a fault's request and waits for the worker to reach the
// middle of a batch; nil when it did not within relayIdle (an idle
// worker), or ended first. The worker is retired either way.
func (w *relayWorker) ask(ctx context.Context, kind hookKind) *hookPoint {
	w.retired.Store(true)
	req := &hookReq{kind: kind, reached: make(chan *hookPoint, 1)}
	w.mu.Lock()
	w.pending = req
	w.mu.Unlock()
	t := time.NewTimer(relayIdle)
	defer t.Stop()
	select {
	case p := <-req.reached:
		return p
	case <-t.C:
	case <-ctx.Done():
	case <-w.done:
	}
	w.mu.Lock()
	withdrawn := w.pending == req
	w.pending = nil
	w.mu.Unlock()
	if withdrawn {
		return nil
	}
	// Taken: the worker is in its batch and stops in its middle.
	select {
	case p := <-req.reached:
		return p
	case <-w.done:
		return nil
	}
}

// take returns the fault's request, if one is pending.
func (w *relayWorker) take() *hookReq {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.pending
	w.pending = nil
	return h
}

// stop ends the instance's loop.
func (w *relayWorker) stop() { w.cancel() }

// close closes the client once; for a killed instance nothing it sends
// gets out.
func (w *relayWorker) close() {
	w.closeOnce.Do(func() {
		w.cancel()
		if w.sess != nil {
			w.sess.Close()
			return
		}
		w.cl.Close()
	})
}

// fatalFetchError is what a poll returns that no retry fixes.
func fatalFetchError(fs kgo.Fetches) error {
	var fatal error
	fs.EachError(func(t string, p int32, err error) {
		var opErr *net.OpError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) ||
			kgo.IsRetryableBrokerErr(err) || errors.As(err, &opErr) || errors.Is(err, errKilled) {
			return
		}
		if fatal == nil {
			fatal = fmt.Errorf("fetching %s/%d: %w", t, p, err)
		}
	})
	return fatal
}
