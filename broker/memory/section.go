package memory

import "github.com/mqcheck/mqcheck/units"

// Config configures the in-process reference broker. A scenario writes it
// as broker.memory. It is mqcheck's test bench, not a broker to measure: each fault
// knob injects exactly that many anomalies, at seeded positions among the first Window
// publishes, so that a checker's counts can be asserted equal to the knobs.
// Every subscription (consumers.subscriptions) gets every stored message.
type Config struct {
	// Partitions of the topic in mode partitioned. Default 4. Messages
	// with a key go to the partition the key hashes to; messages without
	// one go round-robin per producer. Mode queue has no partitions: leave
	// it unset or 1.
	Partitions int `yaml:"partitions,omitempty" json:"partitions,omitempty"`
	// Mode: partitioned (default; each subscription is a consumer group
	// whose live consumers share the partitions, dealt round-robin in
	// consumer ID order and handed over cooperatively on a rebalance; the
	// ordering domain is the partition, "<destination>/<n>") or queue (each
	// subscription is one queue read by competing consumers; the ordering
	// domain is the queue as seen by one consumer,
	// "<destination>@consumer-<id>").
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// AckLatency delays every publish confirm (whatever its outcome), to
	// make latency visible. The message is deliverable at once.
	AckLatency units.Duration `yaml:"ack_latency,omitempty" json:"ack_latency,omitempty"`
	// MaxBacklog bounds what waits to be delivered, as a real broker's
	// memory does (RabbitMQ blocks publishers past its memory watermark,
	// Kafka throttles past its quotas): each delivery waiting in a
	// subscription, in a consumer's batch or held back by a reorder counts
	// its payload plus 56 bytes of bookkeeping. Past it, a publish waits
	// until consumers acknowledge enough (its wait is publish latency),
	// while any consumer runs: with none running nothing could make room,
	// so the broker stores on (a produce-only run). Nothing is dropped or
	// refused. Several publishes admitted at once can pass it by a message
	// each. The heap the backlog takes is about twice what it counts
	// (payload copies share slabs). Default 16MiB.
	MaxBacklog units.Size `yaml:"max_backlog,omitempty" json:"max_backlog,omitempty"`
	// Faults injected by the broker itself.
	Faults Faults `yaml:"faults,omitempty" json:"faults,omitempty"`
}

// Faults are exact fault counts. The broker draws, from the run's seed,
// distinct positions among the first Window publishes (in broker arrival
// order, across producers) and deals the knobs onto them: no message gets
// two faults, so the counts must add up to at most Window. A fault that
// cannot apply where it falls (on the successor of a held reorder, or a
// corruption of an empty payload) moves to the next unfaulted publish, past
// the window if need be. Faults that hit "one subscription" pick it from the
// seed too.
// A redelivery (after a reject or a consumer crash) never repeats a fault.
type Faults struct {
	// Window of publishes the positions are drawn from. Default 1000. A run
	// must publish at least this many messages for every fault to happen.
	Window int `yaml:"window,omitempty" json:"window,omitempty"`
	// Drop: acked, then never delivered to one subscription (the others
	// get it): one lost message per drop.
	Drop int `yaml:"drop,omitempty" json:"drop,omitempty"`
	// Duplicate: stored twice (a second copy at its own position, as a
	// producer retry would write it) and so delivered twice to one
	// subscription, the copy right after the original and not flagged as
	// redelivered: counted in duplicated_stored.
	Duplicate int `yaml:"duplicate,omitempty" json:"duplicate,omitempty"`
	// DuplicateRedelivered: one stored copy delivered twice, the second
	// time flagged redelivered (a consumer-side re-delivery).
	DuplicateRedelivered int `yaml:"duplicate_redelivered,omitempty" json:"duplicate_redelivered,omitempty"`
	// Reorder: in one subscription, held back and delivered right after
	// the next message of the same producer in the same ordering domain
	// (in queue mode both go to one consumer back to back), a message no
	// fault touches: one first delivery of a lower sequence number after a
	// higher one. If no such message comes before the producer is flushed
	// or closed, the held one is delivered last instead and the reorder
	// does not happen (nor count as injected).
	Reorder int `yaml:"reorder,omitempty" json:"reorder,omitempty"`
	// Corrupt: the copy delivered to one subscription has one byte of the
	// second half of its payload flipped; the others get it intact.
	Corrupt int `yaml:"corrupt,omitempty" json:"corrupt,omitempty"`
	// WithholdAckDelivered: stored and delivered, but the confirm never
	// comes (the producer sees an indeterminate outcome).
	WithholdAckDelivered int `yaml:"withhold_ack_delivered,omitempty" json:"withhold_ack_delivered,omitempty"`
	// WithholdAckDropped: not stored, and the confirm never comes.
	WithholdAckDropped int `yaml:"withhold_ack_dropped,omitempty" json:"withhold_ack_dropped,omitempty"`
	// Reject: refused with a nack (failed) and not stored.
	Reject int `yaml:"reject,omitempty" json:"reject,omitempty"`
	// Phantom: refused with a nack (failed), yet stored and delivered.
	Phantom int `yaml:"phantom,omitempty" json:"phantom,omitempty"`
}
