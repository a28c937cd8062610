package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/cpu"

	"github.com/mqcheck/mqcheck/broker"
)

// errClosed is returned by Publish and Run after Close.
var errClosed = errors.New("closed")

// closeWait bounds how long Close waits for franz-go to hand back the
// records it still holds; it always does, so running out means a bug.
const closeWait = 30 * time.Second

// producer is one mqcheck producer: its own kgo.Client, as independent
// producers would have.
//
// Completions never overlap without any locking of ours: franz-go calls
// every promise of one client from a single goroutine, one after the other
// ("All promises are called serially", kgo.Client.Produce).
type producer struct {
	id         int
	cl         *kgo.Client
	topic      string
	partition  int32 // with the manual partitioner
	onComplete broker.Completion
	conn       *connState

	// life bounds every record: Publish's ctx only covers the call, so a
	// record keeps its chance to be acked after the load phase's ctx ends.
	life   context.Context
	cancel context.CancelFunc

	promise func(*kgo.Record, error) // one func value for every record

	closed atomic.Bool   // set once, by Close: read by both sides
	idle   chan struct{} // signalled by each completion after Close

	// What is in flight is published minus completed, each counter
	// written by one side alone and on a cache line of its own: one
	// counter that both sides wrote, next to closed, moved its line
	// between the two cores at every publish and every completion (a
	// tenth of a closed-loop 100-byte run's CPU on a 2-core host).
	_         cpu.CacheLinePad
	published atomic.Int64 // the publishing side's
	_         cpu.CacheLinePad
	completed atomic.Int64 // the promise's side (franz-go's promise goroutine)
	_         cpu.CacheLinePad
}

// pubRec carries a message through franz-go without an allocation or a map
// per message: the record's Context is the pubRec itself, so the promise
// finds its message with one type assertion. Each swarm Message keeps its
// pubRec in Message.Private, so a publish costs no pool round trip.
//
// The embedded Context is set once, when the pubRec is made, and never
// written again: franz-go may still call Done on a record's context from a
// goroutine of its own (waiting for a new topic's metadata) after the record
// completed and the pubRec went on to carry another message.
type pubRec struct {
	context.Context // the producer's life
	rec             kgo.Record
	msg             *broker.Message
}

func (d *driver) newProducer(o broker.ProducerOptions) (*producer, error) {
	if o.OnComplete == nil {
		return nil, errors.New("creating kafka producer: ProducerOptions.OnComplete is nil")
	}
	who := fmt.Sprintf("producer %d", o.ID)
	clientID := fmt.Sprintf("mqcheck-%s-p%d", d.set.runID, o.ID)
	opts, err := d.set.clientOpts(d.seeds, clientID)
	if err != nil {
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	p := &producer{
		id:         o.ID,
		topic:      d.set.topic,
		onComplete: o.OnComplete,
		conn:       newConnState(who, int16(kmsg.Produce), o.Notify),
		idle:       make(chan struct{}, 1),
	}
	if d.set.k.Partitioner == "manual" {
		p.partition = int32(o.ID % d.partitionCount())
	}
	p.life, p.cancel = context.WithCancel(context.Background())
	p.promise = p.complete
	opts = append(opts, d.set.producerOpts()...)
	opts = append(opts, kgo.WithHooks(p.conn))
	if p.cl, err = kgo.NewClient(opts...); err != nil {
		p.cancel()
		return nil, fmt.Errorf("creating kafka %s: %w", who, err)
	}
	return p, nil
}

// Publish hands m to franz-go; Produce only blocks when the client holds
// more than MaxBufferedRecords, which the swarm's in-flight bound prevents.
func (p *producer) Publish(ctx context.Context, m *broker.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publishing seq %d of producer %d: %w", m.Seq, p.id, err)
	}
	// Counted before closed is read, as Close sets closed before it reads
	// the count: one of the two sees the other.
	p.published.Add(1)
	if p.closed.Load() {
		p.published.Add(-1)
		p.signalIdle()
		return fmt.Errorf("publishing seq %d of kafka producer %d: %w", m.Seq, p.id, errClosed)
	}
	r, _ := m.Private.(*pubRec)
	if r == nil || r.Context != p.life {
		r = &pubRec{Context: p.life}
		r.rec.Context = r
		m.Private = r
	}
	r.msg = m
	// The fields franz-go reads, one by one: assigning a whole Record (a
	// dozen words, half of them pointers, with write barriers while the GC
	// runs) cost 4% of a verified closed-loop run's CPU. What franz-go
	// writes back (offset, producer id and epoch, attributes, leader
	// epoch, partition) it overwrites for every record; Headers and
	// Context stay as made.
	rec := &r.rec
	rec.Key, rec.Value, rec.Topic, rec.Partition = m.Key, m.Payload, p.topic, p.partition
	if m.Sent != 0 {
		// Spares franz-go its own clock read.
		rec.Timestamp = time.Unix(0, m.Sent)
	} else {
		rec.Timestamp = time.Time{} // franz-go dates it
	}
	p.cl.Produce(p.life, &r.rec, p.promise)
	return nil
}

// complete is the promise of every record.
func (p *producer) complete(rec *kgo.Record, err error) {
	r := rec.Context.(*pubRec)
	m := r.msg
	r.msg = nil
	p.onComplete(m, outcomeOf(err), err)
	p.completed.Add(1)
	if p.closed.Load() {
		p.signalIdle()
	}
}

// signalIdle wakes Close to count again what is in flight.
func (p *producer) signalIdle() {
	select {
	case p.idle <- struct{}{}:
	default:
	}
}

// inFlight is how many published messages are not completed yet.
// published is read first: a completion counted in completed is of a
// publish counted in published by then.
func (p *producer) inFlight() int64 {
	pub := p.published.Load()
	return pub - p.completed.Load()
}

// Flush waits until every published message was completed.
func (p *producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing kafka producer %d (%d messages pending): %w", p.id, p.inFlight(), err)
	}
	return nil
}

// Close fails what franz-go still holds (ErrClientClosed, so Indeterminate)
// and returns once every one of those completions has run.
func (p *producer) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.conn.closing.Store(true)
	p.cancel()
	p.cl.Close()
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	for p.inFlight() > 0 {
		select {
		case <-p.idle:
		case <-deadline.C:
			return fmt.Errorf("closing kafka producer %d: %d messages never completed", p.id, p.inFlight())
		}
	}
	return nil
}
