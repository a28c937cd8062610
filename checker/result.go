package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/internal/plural"
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
	// DuplicatedStored: of the duplicates, those at a storage position
	// never delivered before: the broker stored the message twice (the
	// producer's retry or the broker failed). The other duplicates with a
	// position are one stored copy delivered again (the consumer side).
	DuplicatedStored uint64 `json:"duplicated_stored"`
	// DuplicatedPositionUnknown: of the duplicates, those whose delivery
	// carried no storage position (the broker gives none): stored twice or
	// delivered twice cannot be told.
	DuplicatedPositionUnknown uint64 `json:"duplicated_position_unknown"`
	Reordered                 uint64 `json:"reordered"`
	Unexpected                uint64 `json:"unexpected"`
	Corrupted                 uint64 `json:"corrupted"`
	// PayloadUnchecked: clean deliveries whose checksum covered the header
	// alone (producers.checksum: header). Damage past their header could
	// not be seen: corrupted does not count it, so it is no evidence
	// that their payloads arrived intact. Absent when every delivery's
	// payload was checked.
	PayloadUnchecked uint64 `json:"payload_unchecked,omitempty"`
	Recovered        uint64 `json:"recovered"` // indeterminate, yet received
	Phantom          uint64 `json:"phantom"`   // failed, yet received
	Foreign          uint64 `json:"foreign"`
	// DeadLettered: (subscription, message) pairs read back from a
	// dead-letter queue; accounted for, never lost.
	DeadLettered uint64 `json:"dead_lettered"`
	// Rejected: deliveries the harness failed on purpose (simulated
	// processing failures), not counted as received.
	Rejected uint64 `json:"rejected"`
	// Aborted: messages written in transactions the broker confirmed
	// aborted (per message). Not acked, so never lost.
	Aborted uint64 `json:"aborted"`
	// AbortedRead: (subscription, message) pairs where an aborted message
	// was received: what a read_committed consumer must never see.
	AbortedRead uint64 `json:"aborted_read"`
	// Processed is the second layer of an idempotent-consumer run
	// (consumers.processing): side effects read back from the store.
	// Absent without one.
	Processed *ProcessedCounts `json:"processed,omitempty"`
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
	At          int64 `json:"at_unix_ns,omitempty"`
	Approximate bool  `json:"at_approximate,omitempty"`
	// AckedAt: for a lost or unaccounted message, roughly when the broker
	// acked it (unix nanoseconds): what destroyed it came after.
	AckedAt int64 `json:"acked_at_unix_ns,omitempty"`
	// Position: for a duplicate, the storage position of the copy
	// delivered (where the broker gives one).
	Position *uint64 `json:"position,omitempty"`
	// Txn: for an aborted read, the producer's transaction (numbered from
	// 1) the message was written in.
	Txn         uint32 `json:"txn,omitempty"`
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
	// Scope says which part of the run's messages the claim judged, and
	// Counts are that part's, when the claim was scoped (Options.Scopes);
	// empty and nil when it judged them all.
	Scope  string  `json:"scope,omitempty"`
	Counts *Counts `json:"counts,omitempty"`
}

// Options for Finalize.
type Options struct {
	// Drained: the drain ended with every acked message received, or with
	// the broker reporting nothing left to deliver. When false, missing
	// messages are unaccounted, not lost, and loss claims are unknown.
	Drained bool
	// Claims to decide.
	Claims []string
	// SettleWanted is how long consumption was to go on after the drain
	// was complete (drain_settle), and SettleWatched how long it did. When
	// the drain's deadline cut the settle short, a duplicate arriving a
	// moment later would have gone unseen: a claim that judges duplicates
	// is then unknown, not pass. Zero SettleWanted: no settle asked.
	SettleWanted, SettleWatched time.Duration
	// Unproven names claims whose test the run did not make in full (the
	// deliberate re-sends a deduplication claim rests on), with why: they
	// are unknown where they would have passed.
	Unproven map[string]string
	// Judged, when set, limits the per-producer figures (sent, unique,
	// unexpected, missing) to the producers it accepts: a worker of a
	// split run judges its own producers, and its consumers' receipts of
	// other workers' messages are the merge's to match.
	Judged func(producer uint32) bool
	// Scopes narrow claims to part of the run's messages, by claim name
	// (a driver whose claims promise something of some messages only:
	// MQTT's QoS levels, per producer and subscription). A claim without
	// a scope judges every message.
	Scopes map[string]Scope
	// Processed: the side effects were read back from the processing
	// store (Processed events applied): the processed layer is counted.
	// Without it effectively-once is unknown, ProcessedWhy says why.
	Processed    bool
	ProcessedWhy string
}

// Scope is the part of a run's messages a claim judges: the messages of
// the (subscription, producer) pairs In accepts. Subscriptions are the
// checker's ids (the swarm's subscription numbers), producers the
// producer ids. Corrupted messages, and messages naming a producer no
// run can have, cannot be told apart by producer: every scope counts
// them. Reorders and rejections are not attributed either: a scope
// counts the run's reorders and no rejections.
type Scope struct {
	// What names the part in the claim's summary and results.
	What string
	In   func(sub, producer int) bool
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
	nsubs := len(c.subs)
	if n := len(c.names.Subs()); n > nsubs {
		nsubs = n
	}
	r := c.tally(o, nil, nsubs)
	for _, name := range o.Claims {
		sc, ok := o.Scopes[name]
		if !ok || sc.In == nil {
			r.Claims = append(r.Claims, decide(name, r, o, nsubs, ""))
			continue
		}
		part := c.tally(o, sc.In, nsubs)
		cl := decide(name, part, o, nsubs, sc.What)
		cl.Scope, cl.Counts = sc.What, &part.Counts
		r.Claims = append(r.Claims, cl)
	}
	return r
}

// tally computes the counts and evidence of the messages of the
// (subscription, producer) pairs in accepts, of all of them when in is
// nil.
func (c *Checker) tally(o Options, in func(sub, producer int) bool, nsubs int) *Result {
	r := &Result{Examples: map[string][]Example{}}
	pair := func(sub, producer int) bool { return in == nil || in(sub, producer) }
	subIDs := map[string]int{}
	for i, name := range c.names.Subs() {
		subIDs[name] = i
	}
	for k, v := range c.examples {
		for _, x := range v {
			if sub, ok := subIDs[x.Subscription]; !ok || k == "corrupted" || k == "foreign" || x.Producer >= MaxProducers || pair(sub, int(x.Producer)) {
				r.Examples[k] = append(r.Examples[k], x)
			}
		}
	}
	cnt := &r.Counts
	if in == nil {
		cnt.Received = c.received
	}
	cnt.Corrupted = c.corrupt
	cnt.PayloadUnchecked = c.unchecked
	cnt.Foreign = c.foreign
	cnt.Reordered = c.reorders
	cnt.Unexpected = c.beyond
	for sid, s := range c.subs {
		var d dups
		if in == nil {
			d = s.dups
			cnt.Rejected += s.rejected
		}
		for p, set := range s.dead {
			if set != nil && pair(sid, p) {
				cnt.DeadLettered += set.Cardinality()
			}
		}
		if in != nil {
			for p := range s.dupsBy {
				if in(sid, p) {
					d.add(s.dupsBy[p])
				}
			}
			cnt.Received += d.all
			for p, set := range s.recv {
				if set != nil && in(sid, p) {
					cnt.Received += set.Cardinality()
				}
			}
		}
		cnt.Duplicated += d.all
		cnt.DuplicatedRedelivered += d.redel
		cnt.DuplicatedStored += d.stored
		cnt.DuplicatedPositionUnknown += d.noPos
	}
	missingName := "lost"
	if !o.Drained {
		missingName = "unaccounted"
	}
	for id, p := range c.producers {
		if p == nil || (o.Judged != nil && !o.Judged(uint32(id))) || !anySub(id, nsubs, pair) {
			continue
		}
		cnt.Sent += p.sent.Cardinality()
		cnt.Acked += p.acked.Cardinality()
		cnt.Failed += p.failed.Cardinality()
		cnt.Aborted += p.aborted.Cardinality()
		// A send with no outcome at all (the run ended first) is as
		// indeterminate as a timeout.
		indet := andNot(&p.sent, union(&p.acked, &p.failed, &p.indeterminate, &p.aborted))
		indet.Or(&p.indeterminate)
		cnt.Indeterminate += indet.Cardinality()

		var accs []*seqSet
		for sub := 0; sub < nsubs; sub++ {
			if !pair(sub, id) {
				continue
			}
			recv := c.recv(sub, id)
			if recv == nil {
				recv = &seqSet{}
			}
			acc := c.accounted(sub, id)
			accs = append(accs, acc)
			cnt.Unique += and(recv, &p.sent).Cardinality()
			if !p.aborted.IsEmpty() {
				ar := and(recv, &p.aborted)
				if n := ar.Cardinality(); n > 0 {
					cnt.AbortedRead += n
					c.abortedReadExamples(r, ar, uint32(id), uint16(sub), p)
				}
			}
			unexpected := andNot(acc, &p.sent)
			if n := unexpected.Cardinality(); n > 0 {
				cnt.Unexpected += n
				c.rangeExamples(r, "unexpected", unexpected, uint32(id), uint16(sub), nil,
					"received, but this run never sent it")
			}
			missing := andNot(&p.acked, acc)
			if n := missing.Cardinality(); n > 0 {
				if o.Drained {
					cnt.Lost += n
				} else {
					cnt.Unaccounted += n
				}
				c.rangeExamples(r, missingName, missing, uint32(id), uint16(sub), p,
					"acknowledged by the broker, never received")
			}
		}
		anyRecv := union(accs...)
		rec := and(indet, anyRecv)
		cnt.Recovered += rec.Cardinality()
		c.rangeExamples(r, "recovered", rec, uint32(id), noSub, p,
			"outcome indeterminate, yet received")
		ph := and(&p.failed, anyRecv)
		if n := ph.Cardinality(); n > 0 {
			cnt.Phantom += n
			c.rangeExamples(r, "phantom", ph, uint32(id), noSub, p,
				"the broker refused it, yet it was delivered")
		}
	}
	if o.Processed {
		c.processedCounts(r, o.Drained, nsubs)
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
	return r
}

// anySub reports whether producer id has a pair in scope: with
// subscriptions, one of them; without (nothing to receive), subscription 0.
func anySub(id, nsubs int, pair func(sub, producer int) bool) bool {
	for sub := range max(nsubs, 1) {
		if pair(sub, id) {
			return true
		}
	}
	return false
}

func (c *Checker) recv(sub, producer int) *seqSet {
	if sub >= len(c.subs) || producer >= len(c.subs[sub].recv) {
		return nil
	}
	return c.subs[sub].recv[producer]
}

// rangeExamples adds up to MaxExamples examples, one per run of consecutive
// sequence numbers, so a burst of loss is one line of evidence, not twenty.
// p, when set, dates them: when the first was sent, and for what was
// acked and never received, when the broker acked it.
func (c *Checker) rangeExamples(r *Result, anomaly string, set *seqSet, producer uint32, sub uint16, p *producer, detail string) {
	var start, prev uint64
	open := false
	flush := func() bool {
		if len(r.Examples[anomaly]) >= MaxExamples {
			return false
		}
		x := Example{Anomaly: anomaly, Producer: producer, Seq: start, SeqEnd: prev, Detail: detail}
		if sub != noSub {
			x.Subscription = c.names.Sub(sub)
		}
		if p != nil {
			if at := p.sentAt.estimate(start); at != 0 {
				x.At, x.Approximate = at, true
			}
			if anomaly == "lost" || anomaly == "unaccounted" {
				x.AckedAt = p.ackedAt.estimate(start)
			}
		}
		if n := prev - start + 1; n > 1 {
			x.Detail = fmt.Sprintf("%s; %d messages", detail, n)
		}
		r.Examples[anomaly] = append(r.Examples[anomaly], x)
		return true
	}
	for v := range set.All() {
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

// breach is one kind of anomaly that breaks a claim: how many, the words
// its summary says it in, and the evidence keys that show it.
type breach struct {
	n     uint64
	words string
	kinds []string
}

// breaches lists what breaks claim name, in the order the summary says it:
// corrupted and unexpected messages break every promise a broker makes;
// lost breaks at-least-once; duplicates and phantoms break at-most-once
// (a phantom was refused, so an application that retries the refused
// publish gets it twice: the broker's "refused" became a duplicate);
// exactly-once is both, ordered is order.
func breaches(name string, n *Counts, nsubs int) []breach {
	out := []breach{
		{n.Corrupted, fmt.Sprintf("%d corrupted", n.Corrupted), []string{"corrupted"}},
		{n.Unexpected, fmt.Sprintf("%d unexpected (never sent by this run)", n.Unexpected), []string{"unexpected"}},
	}
	lost := breach{n.Lost, fmt.Sprintf("%d acknowledged messages never received (of %d acked, %s)",
		n.Lost, n.Acked, plural.Of(nsubs, "subscription")), []string{"lost"}}
	dups := []breach{
		{n.Duplicated, duplicateWords(n), []string{"duplicated_stored", "duplicated"}},
		{n.Phantom, fmt.Sprintf("%d deliveries of messages the broker refused (phantom: a retry of the refused publish makes them duplicates)",
			n.Phantom), []string{"phantom"}},
	}
	switch name {
	case "at-least-once":
		out = append(out, lost)
	case "at-most-once":
		out = append(out, dups...)
	case "exactly-once":
		out = append(append(out, lost), dups...)
	case "ordered":
		out = append(out, reordered(n))
	case "kafka-eos":
		// Kafka's exactly-once: transactions commit atomically, so no
		// committed message is lost or stored twice (the relay's output
		// included), and a read_committed consumer never sees an aborted
		// one. A consumer that reads one stored copy again (a restart, a
		// rebalance before its commit) is the consumer's at-least-once,
		// not the transactions': exactly-once fails on those.
		out = append(out, lost, breach{n.AbortedRead,
			fmt.Sprintf("%d deliveries of messages from aborted transactions (aborted reads; of %d aborted)", n.AbortedRead, n.Aborted),
			[]string{"aborted_read"}}, breach{n.DuplicatedStored,
			fmt.Sprintf("%d duplicates stored twice (a message committed to the log the consumers read more than once)", n.DuplicatedStored),
			[]string{"duplicated_stored"}}, dups[1])
	case "sqs-fifo":
		// A FIFO queue may deliver one stored copy again (a visibility
		// timeout ran out, a consumer gave it back): that is SQS's
		// exactly-once processing. What it must not do is store a
		// deduplicated send twice, lose an acked message, or reorder a
		// message group (the ordering domain).
		out = append(out, lost, breach{n.DuplicatedStored,
			fmt.Sprintf("%d duplicates stored twice (a deduplicated send delivered as a message of its own)", n.DuplicatedStored),
			[]string{"duplicated_stored"}}, reordered(n))
	case "jetstream-dedupe":
		// JetStream's Nats-Msg-Id window: a publish re-sent with an id the
		// stream has seen within the window is not stored again, and no
		// acked message is lost. A consumer's redelivery of one stored
		// copy (ack_wait, a nak) is at-least-once, allowed.
		out = append(out, lost, breach{n.DuplicatedStored,
			fmt.Sprintf("%d duplicates stored twice (a publish re-sent with the same Nats-Msg-Id stored as a message of its own)", n.DuplicatedStored),
			[]string{"duplicated_stored"}}, dups[1])
	}
	return out
}

// mqttClaims maps the MQTT QoS claims to the generic claim each one is:
// QoS 0 at most once, QoS 1 at least once, QoS 2 exactly once.
var mqttClaims = map[string]string{"mqtt-qos0": "at-most-once", "mqtt-qos1": "at-least-once", "mqtt-qos2": "exactly-once"}

func reordered(n *Counts) breach {
	return breach{n.Reordered,
		fmt.Sprintf("%d first deliveries arrived after a later message of the same producer in the same ordering domain", n.Reordered),
		[]string{"reordered"}}
}

// duplicateWords says how many duplicates there were and what their storage
// positions tell.
func duplicateWords(n *Counts) string {
	if n.Duplicated == 0 {
		return ""
	}
	return fmt.Sprintf("%d duplicate deliveries (%s; %d flagged as redelivered by the broker)",
		n.Duplicated, n.DuplicateKinds(), n.DuplicatedRedelivered)
}

// DuplicateKinds says what the storage positions tell about the
// duplicates: "3 stored twice, 7 re-deliveries of one stored copy, 2 with
// the storage position unknown" (the parts that are not zero; "" without
// duplicates).
func (n Counts) DuplicateKinds() string {
	var parts []string
	if n.DuplicatedStored > 0 {
		parts = append(parts, fmt.Sprintf("%d stored twice", n.DuplicatedStored))
	}
	if again := n.Duplicated - min(n.Duplicated, n.DuplicatedStored+n.DuplicatedPositionUnknown); again > 0 {
		parts = append(parts, fmt.Sprintf("%d re-deliveries of one stored copy", again))
	}
	if n.DuplicatedPositionUnknown > 0 {
		parts = append(parts, fmt.Sprintf("%d with the storage position unknown", n.DuplicatedPositionUnknown))
	}
	return strings.Join(parts, ", ")
}

// PayloadUncheckedNote says, for a summary, that n's corrupted count leaves out
// the payloads of header-only deliveries; empty when there were none.
func PayloadUncheckedNote(n *Counts) string {
	if n.PayloadUnchecked == 0 {
		return ""
	}
	return fmt.Sprintf("payload corruption not checked: %s checksummed by header alone (producers.checksum: header)",
		plural.Of(n.PayloadUnchecked, "message"))
}

// decide decides claim name on r's counts and evidence; scope, when not
// empty, names the part of the run r is (Options.Scopes), and the summary
// says it.
func decide(name string, r *Result, o Options, nsubs int, scope string) Claim {
	if generic, ok := mqttClaims[name]; ok {
		// MQTT's QoS levels promise what the generic claims say, per
		// message between the client and the broker: decided as those,
		// reported under their own name.
		c := decide(generic, r, o, nsubs, "")
		c.Name = name
		prefix := "QoS " + name[len(name)-1:]
		if scope != "" {
			prefix += " (" + scope + ")"
		}
		c.Summary = prefix + ": " + c.Summary
		return c
	}
	c := Claim{Name: name}
	drained := o.Drained
	n := &r.Counts
	set := func(verdict, summary string, kinds ...string) Claim {
		if scope != "" {
			summary = scope + ": " + summary
		}
		if n.PayloadUnchecked > 0 {
			// Every claim judges corruption: one decided while payloads
			// went unchecked must not read as if they were.
			summary += "; " + PayloadUncheckedNote(n)
		}
		c.Verdict, c.Summary = verdict, summary
		if verdict != Unknown {
			h := verdict == Pass
			c.Holds = &h
		}
		c.Evidence = interleave(r.Examples, kinds)
		return c
	}
	switch name {
	case "at-least-once", "at-most-once", "exactly-once", "ordered", "sqs-fifo", "kafka-eos", "jetstream-dedupe":
	case ClaimEffectivelyOnce:
		return decideEffectivelyOnce(r, o, set)
	default:
		return set(Unknown, fmt.Sprintf("unknown claim %q", name))
	}
	// Every kind that breaks the claim is named, with its evidence: a
	// verdict that cites one cause while others broke it too misleads.
	var words, kinds []string
	judgesDuplicates := false
	for _, b := range breaches(name, n, nsubs) {
		judgesDuplicates = judgesDuplicates || slices.Contains(b.kinds, "duplicated_stored")
		if b.n > 0 {
			words = append(words, b.words)
			kinds = append(kinds, b.kinds...)
		}
	}
	if len(kinds) > 0 {
		return set(Fail, strings.Join(words, "; "), kinds...)
	}
	if n.Sent == 0 {
		return set(Unknown, "no message was sent: nothing to verify")
	}
	if (name == "sqs-fifo" || name == "kafka-eos" || name == "jetstream-dedupe") && n.DuplicatedPositionUnknown > 0 {
		return set(Unknown, fmt.Sprintf("%d duplicates came without a storage position: stored twice or delivered again cannot be told",
			n.DuplicatedPositionUnknown), "duplicated")
	}
	loss := name == "at-least-once" || name == "exactly-once" || name == "sqs-fifo" || name == "kafka-eos" || name == "jetstream-dedupe"
	if loss {
		switch {
		case n.Acked == 0:
			return set(Unknown, "no message was acknowledged: nothing to verify for loss")
		case !drained && n.Unaccounted > 0:
			return set(Unknown, fmt.Sprintf("drain timed out with %d acknowledged messages not yet received: loss cannot be decided",
				n.Unaccounted), "unaccounted")
		}
	}
	if n.Received == 0 && name != "at-least-once" {
		what := map[string]string{"at-most-once": "duplicates", "exactly-once": "duplicates", "ordered": "order",
			"sqs-fifo": "duplicates and order", "kafka-eos": "duplicates and aborted reads", "jetstream-dedupe": "duplicates"}[name]
		return set(Unknown, "nothing was received: nothing to verify for "+what)
	}
	if judgesDuplicates && drained && o.SettleWanted > 0 && o.SettleWatched < o.SettleWanted {
		return set(Unknown, fmt.Sprintf("the drain's deadline cut its settle short (consumers read on for %s of drain_settle %s "+
			"after the last message arrived): a duplicate arriving later would not have been seen",
			o.SettleWatched.Round(time.Millisecond), o.SettleWanted))
	}
	if why, ok := o.Unproven[name]; ok {
		return set(Unknown, why)
	}
	switch name {
	case "at-least-once":
		return set(Pass, fmt.Sprintf("all %d acknowledged messages received %s", n.Acked, bySubscriptions(nsubs)))
	case "at-most-once":
		return set(Pass, fmt.Sprintf("%d deliveries, none received twice", n.Received))
	case "exactly-once":
		return set(Pass, fmt.Sprintf("all %d acknowledged messages received exactly once %s", n.Acked, bySubscriptions(nsubs)))
	case "kafka-eos":
		return set(Pass, fmt.Sprintf("all %d committed messages received %s, none stored twice, no aborted message read "+
			"(%d aborted; %d re-deliveries of one stored copy)", n.Acked, bySubscriptions(nsubs), n.Aborted, n.Duplicated))
	case "jetstream-dedupe":
		return set(Pass, fmt.Sprintf("all %d acknowledged messages received %s, none stored twice (%d re-deliveries of one stored copy)",
			n.Acked, bySubscriptions(nsubs), n.Duplicated))
	case "sqs-fifo":
		return set(Pass, fmt.Sprintf("all %d acknowledged messages received %s, none stored twice, "+
			"in producer order within every message group (%d re-deliveries of one stored copy)", n.Acked, bySubscriptions(nsubs), n.Duplicated))
	}
	return set(Pass, fmt.Sprintf("%d first deliveries, in producer order within every ordering domain", n.Unique))
}

// interleave takes the examples of kinds in turn, one of each per round, up
// to MaxExamples: every kind that broke a claim shows, and none crowds out
// the others.
func interleave(examples map[string][]Example, kinds []string) []Example {
	var out []Example
	for i := 0; len(out) < MaxExamples; i++ {
		took := false
		for _, k := range kinds {
			if xs := examples[k]; i < len(xs) && len(out) < MaxExamples {
				out = append(out, xs[i])
				took = true
			}
		}
		if !took {
			break
		}
	}
	return out
}

// bySubscriptions is who received every message: "by the subscription",
// "by each of 2 subscriptions".
func bySubscriptions(n int) string {
	if n == 1 {
		return "by the subscription"
	}
	return "by each of " + plural.Of(n, "subscription")
}
