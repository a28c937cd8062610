package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
	wire "github.com/mqcheck/mqcheck/message"
)

// BenchConfig is the cluster and producer settings of the bare-vs-mqcheck
// produce comparison: an embedded 3-broker kfake cluster, 6 partitions, acks
// all, idempotent, the driver's defaults otherwise. Open it once, then run
// BareProduce and the swarm against the same target in one process.
func BenchConfig() (*Config, broker.Spec) {
	return &Config{Brokers: 3, Partitions: 6, Acks: "all"},
		broker.Spec{Target: broker.TargetEmbedded, Producers: 1, Consumers: 1}
}

// BareProduce is the baseline mqcheck's hot path is measured against: one
// franz-go client with the same producer settings as the driver's, producing
// n records of size bytes to t's topic with one promise func, then flushing.
// It returns how long that took. t must be a Kafka target whose Setup ran.
func BareProduce(ctx context.Context, t *broker.Target, n, size int) (time.Duration, error) {
	_, took, err := produceBare(ctx, t, size, func(i int) bool { return i < n }, false)
	return took, err
}

// BareProduceFor is BareProduce for d rather than for a number of records,
// as long as the swarm it is compared with produces: the cluster then holds
// as many records from either by the end (kfake keeps them all, and a
// cluster in this process or beside it on the same cores slows as they
// pile up). It returns the records produced and how long that took, flush
// included.
func BareProduceFor(ctx context.Context, t *broker.Target, d time.Duration, size int) (int, time.Duration, error) {
	return produceBare(ctx, t, size, forDuration(d), false)
}

// BareBenchLoopFor is BareProduceFor with franz-go's own benchmark loop
// (examples/bench as it runs by default) in place of the pooled one: the
// comparison a user makes with the client's shipped tool. Each send makes
// its record and value, fills the value with the record's number in
// decimal and a space over and over, and the promise adds the record and
// its bytes to two shared counters (what that tool's rate printer reads).
// An application that makes a record per message costs about this; the
// pooled loop is the least a client can cost.
func BareBenchLoopFor(ctx context.Context, t *broker.Target, d time.Duration, size int) (int, time.Duration, error) {
	return produceBare(ctx, t, size, forDuration(d), true)
}

// forDuration is produceBare's more for d from now: the clock is read
// once every 1,024 records, not at each.
func forDuration(d time.Duration) func(i int) bool {
	end := time.Now().Add(d)
	return func(i int) bool { return i%1024 != 0 || time.Now().Before(end) }
}

// produceBare produces records of size bytes while more(i) for the i-th
// (from 0), flushes, and returns how many and how long it took. fresh: a
// record made for each send, as franz-go's benchmark does by default
// (BareBenchLoopFor); otherwise pooled.
func produceBare(ctx context.Context, t *broker.Target, size int, more func(i int) bool, fresh bool) (int, time.Duration, error) {
	d, ok := t.Driver.(*driver)
	if !ok {
		return 0, 0, errors.New("bare produce: not a kafka target")
	}
	opts, err := d.set.clientOpts(d.seeds, "mqcheck-bare")
	if err != nil {
		return 0, 0, fmt.Errorf("bare produce: %w", err)
	}
	cl, err := kgo.NewClient(append(opts, d.set.producerOpts()...)...)
	if err != nil {
		return 0, 0, fmt.Errorf("bare produce: creating client: %w", err)
	}
	defer cl.Close()

	// Pooled (not fresh), every record has a value of its own, from a
	// pool its promise refills, as franz-go's own benchmark produces (examples/bench, with
	// -pool) and as any producer's records differ. One static value for
	// all records (the loop before) cost the client less than any real
	// load: at 1 KiB its copy into a batch read L1, where a record of its
	// own comes from memory. A value is filled once, when made, and then
	// only its first 8 bytes (the record's number) change, as mqcheck
	// rewrites only its header in a pooled payload; franz-go's benchmark
	// writes its number over the whole value, which costs more than that.
	pool := sync.Pool{New: func() any {
		v := make([]byte, size)
		for i := range v {
			v[i] = byte(i*7 + i>>3) // not all zeros, so compression has work
		}
		return &kgo.Record{Value: v}
	}}
	var failed atomic.Int64
	var firstErr atomic.Value
	// fresh's counters, as franz-go's benchmark keeps them for its rate
	// printer: written, never read, their cost is the point.
	var records, recordBytes atomic.Int64
	promise := func(r *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
		if fresh {
			records.Add(1)
			recordBytes.Add(int64(len(r.Value)))
			return
		}
		pool.Put(r)
	}
	start := time.Now()
	n := 0
	for ; more(n); n++ {
		var r *kgo.Record
		if fresh {
			r = &kgo.Record{Value: fillNumber(make([]byte, size), n)}
		} else {
			r = pool.Get().(*kgo.Record)
			if len(r.Value) >= 8 {
				binary.BigEndian.PutUint64(r.Value, uint64(n))
			}
			r.Timestamp = time.Time{} // dated at this send, not the record's first
		}
		cl.Produce(ctx, r, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return n, 0, fmt.Errorf("bare produce: flushing: %w", err)
	}
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return n, took, fmt.Errorf("bare produce: %d of %d records failed, first: %v", f, n, firstErr.Load())
	}
	return n, took, nil
}

// fillNumber fills v with n in decimal and a space, repeated (the last
// repetition cut at the end of v), and returns v.
func fillNumber(v []byte, n int) []byte {
	var buf [24]byte
	word := append(strconv.AppendInt(buf[:0], int64(n), 10), ' ')
	for i := 0; i < len(v); {
		i += copy(v[i:], word)
	}
	return v
}

// BareTxnProduce is the baseline of transactional producers: one franz-go
// client with a transactional id and the driver's producer settings,
// writing n records of size bytes to t's topic in transactions of txnSize
// (begin, produce with one promise func, flush, commit), as a
// transactional application would. It returns how long that took.
func BareTxnProduce(ctx context.Context, t *broker.Target, n, size, txnSize int) (time.Duration, error) {
	d, ok := t.Driver.(*driver)
	if !ok {
		return 0, errors.New("bare transactional produce: not a kafka target")
	}
	opts, err := d.set.clientOpts(d.seeds, "mqcheck-bare-txn")
	if err != nil {
		return 0, fmt.Errorf("bare transactional produce: %w", err)
	}
	opts = append(opts, d.set.producerOpts()...)
	opts = append(opts, kgo.TransactionalID(fmt.Sprintf("mqcheck-bare-%d", time.Now().UnixNano())))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("bare transactional produce: creating client: %w", err)
	}
	defer cl.Close()
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i*7 + i>>3)
	}
	var failed atomic.Int64
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	start := time.Now()
	for done := 0; done < n; {
		if err := cl.BeginTransaction(); err != nil {
			return 0, fmt.Errorf("bare transactional produce: %w", err)
		}
		for range min(txnSize, n-done) {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
			done++
		}
		if err := cl.Flush(ctx); err != nil {
			return 0, fmt.Errorf("bare transactional produce: flushing: %w", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return 0, fmt.Errorf("bare transactional produce: committing: %w", err)
		}
	}
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return took, fmt.Errorf("bare transactional produce: %d of %d records failed", f, n)
	}
	return took, nil
}

// BareVerify is the baseline of a verified run: what a user's verifier
// does at least (kgo-verifier's producer and group readers, say) with the
// driver's client settings. One producer client writes n records of size
// bytes, each carrying its sequence number and a checksum of the whole
// record (mqcheck's header, so the records are the very bytes mqcheck
// sends); meanwhile consumers clients in one consumer group read the topic
// from the start with the driver's consumer settings and poll size,
// decode and checksum every record, and count each sequence number once.
// It returns how long producing took (until every record was acked, with
// the consumers reading alongside, as the swarm's load phase is timed),
// then waits up to drain for the consumers to have seen every record, and
// fails if any record was missing, foreign or damaged; duplicates (records
// read again after the group's partitions moved) are counted, as mqcheck
// counts them, and allowed: Kafka consumers deliver at least once. t must
// be a Kafka target whose Setup ran, with a topic of its own: the
// consumers read all of it.
func BareVerify(ctx context.Context, t *broker.Target, n, size, consumers int, drain time.Duration) (time.Duration, error) {
	d, ok := t.Driver.(*driver)
	if !ok {
		return 0, errors.New("bare verify: not a kafka target")
	}
	const runID = 1
	enc, err := wire.NewEncoder(runID, 0, size, 1)
	if err != nil {
		return 0, fmt.Errorf("bare verify: %w", err)
	}
	v := newBareVerifier(n)

	cctx, stop := context.WithCancel(ctx)
	defer stop()
	group := fmt.Sprintf("mqcheck-bare-verify-%d", time.Now().UnixNano())
	errs := make(chan error, consumers)
	for i := range consumers {
		opts, err := d.set.clientOpts(d.seeds, fmt.Sprintf("mqcheck-bare-c%d", i))
		if err != nil {
			return 0, fmt.Errorf("bare verify: %w", err)
		}
		opts = append(opts, d.set.consumerOpts(group)...)
		// As the driver's consumers do: what was handled is committed before
		// partitions move (BlockRebalanceOnPoll: every polled record was),
		// so their next owner does not read it again.
		opts = append(opts, kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			_ = cl.CommitUncommittedOffsets(ctx)
		}))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return 0, fmt.Errorf("bare verify: creating consumer: %w", err)
		}
		defer cl.Close()
		go func() { errs <- v.consume(cctx, cl, runID) }()
	}

	opts, err := d.set.clientOpts(d.seeds, "mqcheck-bare-p")
	if err != nil {
		return 0, fmt.Errorf("bare verify: %w", err)
	}
	cl, err := kgo.NewClient(append(opts, d.set.producerOpts()...)...)
	if err != nil {
		return 0, fmt.Errorf("bare verify: creating producer: %w", err)
	}
	defer cl.Close()
	// A record's buffer goes back to the pool once it is acked: each
	// record in flight needs bytes of its own (its own sequence number).
	pool := sync.Pool{New: func() any { b := enc.NewBuffer(); return &b }}
	var failed atomic.Int64
	var firstErr atomic.Value
	promise := func(r *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
		b := r.Value
		pool.Put(&b)
	}
	start := time.Now()
	for seq := range uint64(n) {
		b := pool.Get().(*[]byte)
		cl.Produce(ctx, &kgo.Record{Value: enc.EncodePooled(*b, seq, 0, 0)}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("bare verify: flushing: %w", err)
	}
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return took, fmt.Errorf("bare verify: %d of %d records failed, first: %v", f, n, firstErr.Load())
	}

	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	select {
	case <-v.all:
	case err := <-errs:
		return took, fmt.Errorf("bare verify: %w", err)
	case <-deadline.C:
	}
	if bad := v.bad.Load(); bad > 0 {
		return took, fmt.Errorf("bare verify: %d records foreign or damaged", bad)
	}
	if got := v.got.Load(); got != uint64(n) {
		return took, fmt.Errorf("bare verify: consumers saw %d of %d records within %v", got, n, drain)
	}
	return took, nil
}

func newBareVerifier(n int) *bareVerifier {
	return &bareVerifier{n: uint64(n), seen: make([]atomic.Uint64, (n+63)/64), all: make(chan struct{})}
}

// bareVerifier is BareVerify's account of what its consumers saw: a bit per
// sequence number, set once.
type bareVerifier struct {
	n    uint64
	seen []atomic.Uint64
	got  atomic.Uint64 // distinct sequence numbers seen
	dup  atomic.Uint64 // records seen again
	bad  atomic.Uint64 // foreign and damaged records
	all  chan struct{} // closed when got reaches n
}

// What check makes of a record.
const (
	recordNew = iota
	recordDup
	recordBad // foreign or damaged
)

// check decodes and checksums one record's value and marks its sequence
// number seen.
func (v *bareVerifier) check(value []byte, runID uint64) int {
	h, err := wire.Decode(value)
	if err != nil || h.RunID != runID || h.Seq >= v.n {
		return recordBad
	}
	bit := uint64(1) << (h.Seq % 64)
	if v.seen[h.Seq/64].Or(bit)&bit != 0 {
		return recordDup
	}
	return recordNew
}

// consume polls cl until ctx ends, checking every record.
func (v *bareVerifier) consume(ctx context.Context, cl *kgo.Client, runID uint64) error {
	for {
		fs := cl.PollRecords(ctx, maxPollRecords)
		if fs.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !kgo.IsRetryableBrokerErr(err) && ferr == nil {
				ferr = fmt.Errorf("fetching %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			cl.AllowRebalance()
			return ferr
		}
		var got, dup, bad uint64
		for it := fs.RecordIter(); !it.Done(); {
			switch v.check(it.Next().Value, runID) {
			case recordNew:
				got++
			case recordDup:
				dup++
			default:
				bad++
			}
		}
		cl.AllowRebalance()
		if dup > 0 {
			v.dup.Add(dup)
		}
		if bad > 0 {
			v.bad.Add(bad)
		}
		if got > 0 && v.got.Add(got) == v.n {
			close(v.all)
		}
	}
}
