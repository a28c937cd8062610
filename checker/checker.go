package checker

import (
	"math"

	"github.com/RoaringBitmap/roaring/v2"
)

// MaxProducers bounds producer ids: the swarm numbers its producers densely
// from 0, so a larger id can only come from a payload nobody sent.
const MaxProducers = 1 << 16

// MaxExamples bounds the evidence kept per anomaly kind.
const MaxExamples = 20

// timeStride: the send time of every 1024th message is kept, so evidence
// about a lost message can say roughly when it was sent without a per-message
// entry.
const timeStride = 10

// Checker consumes events and keeps compact per-producer state: one roaring
// bitmap per outcome and per subscription, never a map entry per message.
// It is not safe for concurrent use: one goroutine owns it and is handed
// batches of events.
type Checker struct {
	names     *Names
	producers []*producer
	subs      []*subscription
	domains   []*domain

	foreign  uint64
	corrupt  uint64
	beyond   uint64 // received with an impossible producer id or seq: unexpected
	reorders uint64
	received uint64 // every clean delivery, duplicates included

	examples map[string][]Example
}

type producer struct {
	sent, acked, failed, indeterminate roaring.Bitmap
	sentAt                             []int64 // send time of seq i<<timeStride
}

type subscription struct {
	recv          []*roaring.Bitmap // by producer
	dead          []*roaring.Bitmap // by producer: read back from the dead-letter queue
	dup, dupRedel uint64
	rejected      uint64
}

type domain struct {
	// next[p] is 1 + the highest sequence number first-delivered from
	// producer p in this domain (0: none yet).
	next []uint64
}

// New returns an empty checker whose ids resolve through names.
func New(names *Names) *Checker {
	if names == nil {
		names = NewNames()
	}
	return &Checker{names: names, examples: map[string][]Example{}}
}

// Names returns the registry the checker resolves ids with.
func (c *Checker) Names() *Names { return c.names }

// Apply folds a batch of events into the state.
func (c *Checker) Apply(events []Event) {
	for i := range events {
		c.apply(&events[i])
	}
}

func (c *Checker) apply(e *Event) {
	switch e.Kind {
	case Sent:
		n := uint64(max(e.Count, 1))
		p := c.producer(e.Producer, e.Seq+n-1)
		if p == nil {
			return
		}
		if n == 1 {
			p.sent.Add(uint32(e.Seq))
		} else {
			p.sent.AddRange(e.Seq, e.Seq+n)
		}
		// Every 1024th sequence number keeps a send time. A single send at
		// a slot's start stamps it exactly; a range stamps the slots it
		// covers only if nothing better is known (its time is approximate).
		for i := int(e.Seq >> timeStride); i <= int((e.Seq+n-1)>>timeStride); i++ {
			for len(p.sentAt) <= i {
				p.sentAt = append(p.sentAt, 0)
			}
			if p.sentAt[i] == 0 || (n == 1 && e.Seq&(1<<timeStride-1) == 0) {
				p.sentAt[i] = e.At
			}
		}
	case Acked:
		if p := c.producer(e.Producer, e.Seq); p != nil {
			p.acked.Add(uint32(e.Seq))
		}
	case Failed:
		if p := c.producer(e.Producer, e.Seq); p != nil {
			p.failed.Add(uint32(e.Seq))
		}
	case Indeterminate:
		if p := c.producer(e.Producer, e.Seq); p != nil {
			p.indeterminate.Add(uint32(e.Seq))
		}
	case Received:
		c.receive(e)
	case Corrupted:
		c.corrupt++
		c.example(Example{Anomaly: "corrupted", Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, At: e.At, Redelivered: e.Redelivered,
			Detail: "payload failed verification; producer and seq as the damaged header claims"}, e.Sub, e.Domain)
	case Foreign:
		c.foreign++
	case Reset:
		if int(e.Domain) < len(c.domains) && c.domains[e.Domain] != nil {
			clear(c.domains[e.Domain].next)
		}
	case DeadLettered:
		if p := c.producer(e.Producer, e.Seq); p != nil {
			s := c.sub(e.Sub)
			bitmapAt(&s.dead, e.Producer).Add(uint32(e.Seq))
		} else {
			c.beyond++
		}
	case Rejected:
		c.sub(e.Sub).rejected++
	}
}

func (c *Checker) sub(id uint16) *subscription {
	for int(id) >= len(c.subs) {
		c.subs = append(c.subs, &subscription{})
	}
	return c.subs[id]
}

// bitmapAt returns (*set)[i], growing the slice and creating the bitmap.
func bitmapAt(set *[]*roaring.Bitmap, i uint32) *roaring.Bitmap {
	for int(i) >= len(*set) {
		*set = append(*set, nil)
	}
	bm := (*set)[i]
	if bm == nil {
		bm = roaring.New()
		(*set)[i] = bm
	}
	return bm
}

// producer returns the state of producer id, or nil when the id or seq is
// outside what the swarm can have sent.
func (c *Checker) producer(id uint32, seq uint64) *producer {
	if id >= MaxProducers || seq > math.MaxUint32 {
		return nil
	}
	for int(id) >= len(c.producers) {
		c.producers = append(c.producers, nil)
	}
	p := c.producers[id]
	if p == nil {
		p = &producer{}
		c.producers[id] = p
	}
	return p
}

func (c *Checker) receive(e *Event) {
	c.received++
	if e.Producer >= MaxProducers || e.Seq > math.MaxUint32 {
		c.beyond++
		c.example(Example{Anomaly: "unexpected", Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, At: e.At,
			Detail: "producer id or sequence number beyond anything this run sends"}, e.Sub, e.Domain)
		return
	}
	c.producer(e.Producer, e.Seq) // so that finalize visits producers only seen on receipt
	s := c.sub(e.Sub)
	bm := bitmapAt(&s.recv, e.Producer)
	seq := uint32(e.Seq)
	if !bm.CheckedAdd(seq) {
		s.dup++
		anomaly := "duplicated"
		if e.Redelivered {
			s.dupRedel++
		}
		c.example(Example{Anomaly: anomaly, Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, At: e.At, Redelivered: e.Redelivered}, e.Sub, e.Domain)
		return
	}
	for int(e.Domain) >= len(c.domains) {
		c.domains = append(c.domains, nil)
	}
	d := c.domains[e.Domain]
	if d == nil {
		d = &domain{}
		c.domains[e.Domain] = d
	}
	for int(e.Producer) >= len(d.next) {
		d.next = append(d.next, 0)
	}
	next := &d.next[e.Producer]
	switch {
	case e.Seq+1 > *next:
		*next = e.Seq + 1
	case e.Seq+1 < *next && !e.Redelivered:
		// A redelivery the broker flags (after a requeue or a consumer
		// crash) comes behind later messages by design; brokers promise
		// order only for first attempts, so it is exempt.
		c.reorders++
		c.example(Example{Anomaly: "reordered", Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, After: *next - 1, At: e.At,
			Redelivered: e.Redelivered}, e.Sub, e.Domain)
	}
}

// example keeps x as evidence if there is room, naming its subscription and
// domain (names are resolved only for kept examples, off the hot path).
func (c *Checker) example(x Example, sub uint16, dom uint32) {
	list := c.examples[x.Anomaly]
	if len(list) < MaxExamples {
		x.Subscription = c.names.Sub(sub)
		x.Domain = c.names.DomainName(dom)
		c.examples[x.Anomaly] = append(list, x)
	}
}

// Compact shrinks the bitmaps (runs of consecutive sequence numbers become
// one interval). The owner calls it now and then, e.g. once per interval.
func (c *Checker) Compact() {
	for _, p := range c.producers {
		if p == nil {
			continue
		}
		p.sent.RunOptimize()
		p.acked.RunOptimize()
		p.failed.RunOptimize()
		p.indeterminate.RunOptimize()
	}
	for _, s := range c.subs {
		for _, bm := range append(s.recv, s.dead...) {
			if bm != nil {
				bm.RunOptimize()
			}
		}
	}
}

// SizeBytes estimates the memory held by the checker's sets.
func (c *Checker) SizeBytes() uint64 {
	var n uint64
	for _, p := range c.producers {
		if p == nil {
			continue
		}
		n += p.sent.GetSizeInBytes() + p.acked.GetSizeInBytes() +
			p.failed.GetSizeInBytes() + p.indeterminate.GetSizeInBytes() + uint64(8*len(p.sentAt))
	}
	for _, s := range c.subs {
		for _, bm := range append(s.recv, s.dead...) {
			if bm != nil {
				n += bm.GetSizeInBytes()
			}
		}
	}
	for _, d := range c.domains {
		if d != nil {
			n += uint64(8 * len(d.next))
		}
	}
	return n
}

// Live are the counts known while the run goes on (loss is only known after
// the drain).
type Live struct {
	Received, Duplicated, Reordered, Corrupted, Unexpected, Foreign uint64
}

// Live returns the anomaly counts so far.
func (c *Checker) Live() Live {
	l := Live{Received: c.received, Reordered: c.reorders, Corrupted: c.corrupt,
		Unexpected: c.beyond, Foreign: c.foreign}
	for _, s := range c.subs {
		l.Duplicated += s.dup
	}
	return l
}

// Outstanding counts the (subscription, acked message) pairs not received
// yet: the drain waits for it to reach zero.
func (c *Checker) Outstanding() uint64 {
	nsubs := max(len(c.subs), len(c.names.Subs()))
	var n uint64
	for id, p := range c.producers {
		if p == nil {
			continue
		}
		for sub := 0; sub < nsubs; sub++ {
			n += roaring.AndNot(&p.acked, c.accounted(sub, id)).GetCardinality()
		}
	}
	return n
}

// accounted is what subscription sub has of producer's messages: received,
// or read back from the dead-letter queue. Never nil.
func (c *Checker) accounted(sub, producer int) *roaring.Bitmap {
	r := c.recv(sub, producer)
	var d *roaring.Bitmap
	if sub < len(c.subs) && producer < len(c.subs[sub].dead) {
		d = c.subs[sub].dead[producer]
	}
	switch {
	case r == nil && d == nil:
		return roaring.New()
	case d == nil:
		return r
	case r == nil:
		return d
	}
	return roaring.Or(r, d)
}
