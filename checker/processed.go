package checker

import "fmt"

// ProcessedCounts counts the second layer of an idempotent-consumer run: the side
// effects read back from the processing store, beside what was received.
type ProcessedCounts struct {
	// Effects read back, repeats included.
	Effects uint64 `json:"effects"`
	// Unique (subscription, message) pairs with at least one effect.
	Unique uint64 `json:"unique"`
	// Twice: extra effects of a message already processed by the same
	// subscription (the business duplicate).
	Twice uint64 `json:"processed_twice"`
	// Never: (subscription, acknowledged message) pairs with no effect at
	// all after a complete drain (dead-lettered ones excepted): delivered,
	// maybe acknowledged by the consumer, never processed.
	Never uint64 `json:"processed_never"`
	// Unaccounted: as Never, when the drain did not complete (the
	// message may still have come).
	Unaccounted uint64 `json:"unaccounted,omitempty"`
}

// ClaimEffectivelyOnce: every acknowledged message processed exactly once
// by every subscription, whatever the broker delivered twice.
const ClaimEffectivelyOnce = "effectively-once"

func (c *Checker) processed(e *Event) {
	s := c.sub(e.Sub)
	s.procAll++
	if c.producer(e.Producer) == nil {
		c.beyond++
		return
	}
	if setAt(&s.proc, e.Producer).CheckedAdd(e.Seq) {
		return
	}
	s.procTwice++
	if c.room("processed_twice") {
		// No domain: the store knows the message, not where it came from.
		c.examples["processed_twice"] = append(c.examples["processed_twice"], Example{Anomaly: "processed_twice",
			Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, At: e.At, Subscription: c.names.Sub(e.Sub),
			Detail: "its side effect made again (read back from the store; the time is the repeat's)"})
	}
}

// processedCounts fills r's processed layer and its evidence: Never is
// acked and neither processed nor dead-lettered.
func (c *Checker) processedCounts(r *Result, drained bool, nsubs int) {
	pc := &ProcessedCounts{}
	for _, s := range c.subs {
		pc.Effects += s.procAll
		pc.Twice += s.procTwice
	}
	for id, p := range c.producers {
		if p == nil {
			continue
		}
		for sub := 0; sub < nsubs; sub++ {
			var proc *seqSet
			if sub < len(c.subs) && id < len(c.subs[sub].proc) {
				proc = c.subs[sub].proc[id]
			}
			if proc == nil {
				proc = &seqSet{}
			}
			pc.Unique += proc.Cardinality()
			var dead *seqSet
			if sub < len(c.subs) && id < len(c.subs[sub].dead) {
				dead = c.subs[sub].dead[id]
			}
			done := proc
			if dead != nil {
				done = union(proc, dead)
			}
			never := andNot(&p.acked, done)
			n := never.Cardinality()
			if n == 0 {
				continue
			}
			name := "processed_never"
			if drained {
				pc.Never += n
			} else {
				pc.Unaccounted += n
				name = "processed_unaccounted"
			}
			detail := "acknowledged by the broker, its side effect never made (not in the store)"
			if recv := c.recv(sub, id); recv != nil {
				if got := and(never, recv).Cardinality(); got == n {
					detail = "received, its side effect never made (not in the store)"
				}
			}
			c.rangeExamples(r, name, never, uint32(id), uint16(sub), p, detail)
		}
	}
	r.Counts.Processed = pc
}

// decideEffectivelyOnce judges the processed layer: no acknowledged
// message processed twice or never.
func decideEffectivelyOnce(r *Result, o Options, set func(verdict, summary string, kinds ...string) Claim) Claim {
	n := &r.Counts
	pc := n.Processed
	switch {
	case pc == nil:
		why := "no side effect was read back from a processing store"
		if o.ProcessedWhy != "" {
			why = o.ProcessedWhy
		}
		return set(Unknown, "not decided: "+why)
	case n.Corrupted > 0 || n.Unexpected > 0 || pc.Twice > 0 || pc.Never > 0:
		var words []string
		var kinds []string
		if n.Corrupted > 0 {
			words, kinds = append(words, fmt.Sprintf("%d corrupted", n.Corrupted)), append(kinds, "corrupted")
		}
		if n.Unexpected > 0 {
			words, kinds = append(words, fmt.Sprintf("%d unexpected (never sent by this run)", n.Unexpected)), append(kinds, "unexpected")
		}
		if pc.Twice > 0 {
			words = append(words, fmt.Sprintf("%d side effects made again for a message already processed (processed twice; %d deliveries were duplicates)",
				pc.Twice, n.Duplicated))
			kinds = append(kinds, "processed_twice")
		}
		if pc.Never > 0 {
			words = append(words, fmt.Sprintf("%d acknowledged messages never processed (no side effect in the store)", pc.Never))
			kinds = append(kinds, "processed_never")
		}
		return set(Fail, joinWords(words), kinds...)
	case n.Sent == 0:
		return set(Unknown, "no message was sent: nothing to verify")
	case n.Acked == 0:
		return set(Unknown, "no message was acknowledged: nothing to verify")
	case !o.Drained && pc.Unaccounted > 0:
		return set(Unknown, fmt.Sprintf("drain timed out with %d acknowledged messages not processed yet: processed-never cannot be decided",
			pc.Unaccounted), "processed_unaccounted")
	case o.Drained && o.SettleWanted > 0 && o.SettleWatched < o.SettleWanted:
		return set(Unknown, fmt.Sprintf("the drain's deadline cut its settle short (%s of drain_settle %s): a redelivery processed later would not have been seen",
			o.SettleWatched, o.SettleWanted))
	}
	return set(Pass, fmt.Sprintf("every acknowledged message processed exactly once: %d side effects for %d messages, %d duplicate deliveries skipped or harmless",
		pc.Effects, pc.Unique, n.Duplicated))
}

func joinWords(words []string) string {
	out := ""
	for i, w := range words {
		if i > 0 {
			out += "; "
		}
		out += w
	}
	return out
}
