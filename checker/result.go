package checker

import (
	"fmt"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"
)

// Counts are per message for the send side (sent, acked, failed,
// indeterminate, recovered, phantom) and per (subscription, message) for the
// receive side (unique, lost, duplicated, reordered, unexpected): with two
// subscriptions, a message neither got counts as lost twice.
type Counts struct {
	Sent uint64 `json:"sent"`
	// NotSent: sends the load intended (due before its end) that were
	// never made, because the load ended while the broker held every
	// in-flight slot. The swarm counts them; the checker never sees them.
	NotSent       uint64 `json:"not_sent"`
	Acked         uint64 `json:"acked"`
	Failed        uint64 `json:"failed"`
	Indeterminate uint64 `json:"indeterminate"` // includes sends that never completed
	Received      uint64 `json:"received"`      // clean deliveries, duplicates included
	Unique        uint64 `json:"unique"`        // distinct (subscription, sent message) pairs received
	Lost          uint64 `json:"lost"`          // acked, not received, after a complete drain
	// Unaccounted: acked, not received yet when the drain timed out. Not
	// called lost, because it may still arrive.
	Unaccounted           uint64 `json:"unaccounted"`
	Duplicated            uint64 `json:"duplicated"`             // extra copies received
	DuplicatedRedelivered uint64 `json:"duplicated_redelivered"` // of those, flagged as redelivered by the broker
	Reordered             uint64 `json:"reordered"`
	Unexpected            uint64 `json:"unexpected"`
	Corrupted             uint64 `json:"corrupted"`
	Recovered             uint64 `json:"recovered"` // indeterminate, yet received
	Phantom               uint64 `json:"phantom"`   // failed, yet received
	Foreign               uint64 `json:"foreign"`
	// DeadLettered: (subscription, message) pairs read back from a
	// dead-letter queue; accounted for, never lost.
	DeadLettered uint64 `json:"dead_lettered"`
	// Rejected: deliveries the harness failed on purpose (simulated
	// processing failures), not counted as received.
	Rejected uint64 `json:"rejected"`
}

// Example is one piece of evidence: which producer and sequence numbers,
// where and when.
type Example struct {
	Anomaly      string `json:"anomaly"`
	Producer     uint32 `json:"producer"`
	Seq          uint64 `json:"seq"`
	SeqEnd       uint64 `json:"seq_end"` // last of a range; = Seq for one message
	After        uint64 `json:"after,omitempty"`
	Subscription string `json:"subscription,omitempty"`
	Domain       string `json:"domain,omitempty"`
	// At is unix nanoseconds: the delivery time, or for a lost message
	// roughly when it was sent (approximate marks it).
	At          int64  `json:"at_unix_ns,omitempty"`
	Approximate bool   `json:"at_approximate,omitempty"`
	Redelivered bool   `json:"redelivered,omitempty"`
	Detail      string `json:"detail,omitempty"`
	// Fault names the fault active at At, filled in by the run.
	Fault string `json:"fault,omitempty"`
}

// noSub marks evidence about a message, not about one subscription.
const noSub = 0xffff

// Verdicts of a claim.
const (
	Pass    = "pass"
	Fail    = "fail"
	Unknown = "unknown"
)

// Claim is the verdict on one delivery guarantee, with the evidence for it.
type Claim struct {
	Name     string    `json:"name"`
	Verdict  string    `json:"verdict"`
	Holds    *bool     `json:"holds"` // nil when unknown
	Summary  string    `json:"summary"`
	Evidence []Example `json:"evidence"`
}

// Options for Finalize.
type Options struct {
	// Drained: the drain ended with every acked message received, or with
	// the broker reporting nothing left to deliver. When false, missing
	// messages are unaccounted, not lost, and loss claims are unknown.
	Drained bool
	// Claims to decide.
	Claims []string
}

// Result is the checker's conclusion about a run.
type Result struct {
	Counts   Counts               `json:"counts"`
	Claims   []Claim              `json:"claims"`
	Examples map[string][]Example `json:"examples"`
}

// Verdict is fail when any claim fails, unknown when any is undecided, pass
// only when every claim passed.
func (r *Result) Verdict() string {
	v := Pass
	for _, c := range r.Claims {
		switch c.Verdict {
		case Fail:
			return Fail
		case Unknown:
			v = Unknown
		}
	}
	if len(r.Claims) == 0 {
		return Unknown
	}
	return v
}

// Finalize computes counts, evidence and claim verdicts from the state. It
// does not change the state, so it may be called more than once (live
// checkpoints, then the end).
func (c *Checker) Finalize(o Options) *Result {
	r := &Result{Examples: map[string][]Example{}}
	for k, v := range c.examples {
		r.Examples[k] = append([]Example(nil), v...)
	}
	cnt := &r.Counts
	cnt.Received = c.received
	cnt.Corrupted = c.corrupt
	cnt.Foreign = c.foreign
	cnt.Reordered = c.reorders
	cnt.Unexpected = c.beyond
	nsubs := len(c.subs)
	if n := len(c.names.Subs()); n > nsubs {
		nsubs = n
	}
	for _, s := range c.subs {
		cnt.Duplicated += s.dup
		cnt.DuplicatedRedelivered += s.dupRedel
		cnt.Rejected += s.rejected
		for _, d := range s.dead {
			if d != nil {
				cnt.DeadLettered += d.GetCardinality()
			}
		}
	}
	missingName := "lost"
	if !o.Drained {
		missingName = "unaccounted"
	}
	for id, p := range c.producers {
		if p == nil {
			continue
		}
		cnt.Sent += p.sent.GetCardinality()
		cnt.Acked += p.acked.GetCardinality()
		cnt.Failed += p.failed.GetCardinality()
		// A send with no outcome at all (the run ended first) is as
		// indeterminate as a timeout.
		done := roaring.FastOr(&p.acked, &p.failed, &p.indeterminate)
		indet := roaring.AndNot(&p.sent, done)
		indet.Or(&p.indeterminate)
		cnt.Indeterminate += indet.GetCardinality()

		anyRecv := roaring.New()
		for sub := 0; sub < nsubs; sub++ {
			recv := c.recv(sub, id)
			if recv == nil {
				recv = roaring.New()
			}
			acc := c.accounted(sub, id)
			anyRecv.Or(acc)
			cnt.Unique += roaring.And(recv, &p.sent).GetCardinality()
			unexpected := roaring.AndNot(acc, &p.sent)
			if n := unexpected.GetCardinality(); n > 0 {
				cnt.Unexpected += n
				c.rangeExamples(r, "unexpected", unexpected, uint32(id), uint16(sub), nil,
					"received, but this run never sent it")
			}
			missing := roaring.AndNot(&p.acked, acc)
			if n := missing.GetCardinality(); n > 0 {
				if o.Drained {
					cnt.Lost += n
				} else {
					cnt.Unaccounted += n
				}
				c.rangeExamples(r, missingName, missing, uint32(id), uint16(sub), p.sentAt,
					"acknowledged by the broker, never received")
			}
		}
		rec := roaring.And(indet, anyRecv)
		cnt.Recovered += rec.GetCardinality()
		c.rangeExamples(r, "recovered", rec, uint32(id), noSub, p.sentAt,
			"outcome indeterminate, yet received")
		ph := roaring.And(&p.failed, anyRecv)
		if n := ph.GetCardinality(); n > 0 {
			cnt.Phantom += n
			c.rangeExamples(r, "phantom", ph, uint32(id), noSub, p.sentAt,
				"the broker refused it, yet it was delivered")
		}
	}
	for k := range r.Examples {
		sort.SliceStable(r.Examples[k], func(i, j int) bool {
			a, b := r.Examples[k][i], r.Examples[k][j]
			if a.At != b.At {
				return a.At < b.At
			}
			if a.Producer != b.Producer {
				return a.Producer < b.Producer
			}
			return a.Seq < b.Seq
		})
	}
	for _, name := range o.Claims {
		r.Claims = append(r.Claims, decide(name, r, o.Drained, nsubs))
	}
	return r
}

func (c *Checker) recv(sub, producer int) *roaring.Bitmap {
	if sub >= len(c.subs) || producer >= len(c.subs[sub].recv) {
		return nil
	}
	return c.subs[sub].recv[producer]
}

// rangeExamples adds up to MaxExamples examples, one per run of consecutive
// sequence numbers, so a burst of loss is one line of evidence, not twenty.
func (c *Checker) rangeExamples(r *Result, anomaly string, set *roaring.Bitmap, producer uint32, sub uint16, sentAt []int64, detail string) {
	if set.IsEmpty() {
		return
	}
	it := set.Iterator()
	var start, prev uint32
	open := false
	flush := func() bool {
		if len(r.Examples[anomaly]) >= MaxExamples {
			return false
		}
		x := Example{Anomaly: anomaly, Producer: producer, Seq: uint64(start), SeqEnd: uint64(prev), Detail: detail}
		if sub != noSub {
			x.Subscription = c.names.Sub(sub)
		}
		if at := approxSentAt(sentAt, uint64(start)); at != 0 {
			x.At, x.Approximate = at, true
		}
		if n := prev - start + 1; n > 1 {
			x.Detail = fmt.Sprintf("%s; %d messages", detail, n)
		}
		r.Examples[anomaly] = append(r.Examples[anomaly], x)
		return true
	}
	for it.HasNext() {
		v := it.Next()
		switch {
		case !open:
			start, prev, open = v, v, true
		case v == prev+1:
			prev = v
		default:
			if !flush() {
				return
			}
			start, prev = v, v
		}
	}
	if open {
		flush()
	}
}

// approxSentAt estimates when seq was sent from the send times kept for
// every 1024th message, interpolating between the two around it.
func approxSentAt(sentAt []int64, seq uint64) int64 {
	i := int(seq >> timeStride)
	if i >= len(sentAt) || sentAt[i] == 0 {
		return 0
	}
	at := sentAt[i]
	if i+1 < len(sentAt) && sentAt[i+1] > at {
		frac := float64(seq&(1<<timeStride-1)) / (1 << timeStride)
		at += int64(frac * float64(sentAt[i+1]-at))
	}
	return at
}

func decide(name string, r *Result, drained bool, nsubs int) Claim {
	c := Claim{Name: name}
	n := &r.Counts
	set := func(verdict, summary string, kinds ...string) Claim {
		c.Verdict, c.Summary = verdict, summary
		if verdict != Unknown {
			h := verdict == Pass
			c.Holds = &h
		}
		for _, k := range kinds {
			for _, x := range r.Examples[k] {
				if len(c.Evidence) < MaxExamples {
					c.Evidence = append(c.Evidence, x)
				}
			}
		}
		return c
	}
	// Damaged or invented messages break every promise a broker makes.
	if n.Corrupted > 0 || n.Unexpected > 0 {
		return set(Fail, fmt.Sprintf("%d corrupted and %d unexpected messages delivered", n.Corrupted, n.Unexpected),
			"corrupted", "unexpected")
	}
	if n.Sent == 0 {
		return set(Unknown, "no message was sent: nothing to verify")
	}
	lossClaim := func() (Claim, bool) {
		switch {
		case n.Acked == 0:
			return set(Unknown, "no message was acknowledged: nothing to verify for loss"), true
		case n.Lost > 0:
			return set(Fail, fmt.Sprintf("%d acknowledged messages never received (of %d acked, %d subscriptions)",
				n.Lost, n.Acked, nsubs), "lost"), true
		case !drained && n.Unaccounted > 0:
			return set(Unknown, fmt.Sprintf("drain timed out with %d acknowledged messages not yet received: loss cannot be decided",
				n.Unaccounted), "unaccounted"), true
		}
		return Claim{}, false
	}
	dupClaim := func() (Claim, bool) {
		switch {
		case n.Received == 0:
			return set(Unknown, "nothing was received: nothing to verify for duplicates"), true
		case n.Duplicated > 0:
			return set(Fail, fmt.Sprintf("%d duplicate deliveries (%d flagged as redelivered by the broker)",
				n.Duplicated, n.DuplicatedRedelivered), "duplicated"), true
		}
		return Claim{}, false
	}
	switch name {
	case "at-least-once":
		if cl, done := lossClaim(); done {
			return cl
		}
		return set(Pass, fmt.Sprintf("all %d acknowledged messages received by each of %d subscriptions", n.Acked, nsubs))
	case "at-most-once":
		if cl, done := dupClaim(); done {
			return cl
		}
		return set(Pass, fmt.Sprintf("%d deliveries, none received twice", n.Received))
	case "exactly-once":
		if cl, done := lossClaim(); done {
			if cl.Verdict == Fail {
				return cl
			}
			if d, bad := dupClaim(); bad && d.Verdict == Fail {
				return d
			}
			return cl
		}
		if cl, done := dupClaim(); done {
			return cl
		}
		return set(Pass, fmt.Sprintf("all %d acknowledged messages received exactly once by each of %d subscriptions", n.Acked, nsubs))
	case "ordered":
		switch {
		case n.Received == 0:
			return set(Unknown, "nothing was received: nothing to verify for order")
		case n.Reordered > 0:
			return set(Fail, fmt.Sprintf("%d first deliveries arrived after a later message of the same producer in the same ordering domain", n.Reordered), "reordered")
		}
		return set(Pass, fmt.Sprintf("%d first deliveries, in producer order within every ordering domain", n.Unique))
	}
	return set(Unknown, fmt.Sprintf("unknown claim %q", name))
}
