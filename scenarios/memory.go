package scenarios

// Memory configures the in-process reference broker (broker/memory). It is
// mqcheck's test bench: each fault knob injects exactly that many anomalies,
// at seeded positions among the first Window publishes.
type Memory struct {
	// Partitions of the topic. Default 4.
	Partitions int `yaml:"partitions,omitempty" json:"partitions,omitempty"`
	// Mode: partitioned (consumer groups own partitions; the ordering
	// domain is the partition) or queue (competing consumers on one queue;
	// the ordering domain is the queue as seen by one consumer).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// AckLatency delays every publish confirm, to make latency visible.
	AckLatency Duration `yaml:"ack_latency,omitempty" json:"ack_latency,omitempty"`
	// Faults injected by the broker itself.
	Faults MemoryFaults `yaml:"faults,omitempty" json:"faults,omitempty"`
}

// MemoryFaults are exact fault counts. Each knob picks its messages at seeded
// random positions among the first Window publishes (in broker arrival
// order); no message gets two faults.
type MemoryFaults struct {
	// Window of publishes the positions are drawn from. Default 1000.
	Window int `yaml:"window,omitempty" json:"window,omitempty"`
	// Drop: acked, then never delivered (to one subscription each).
	Drop int `yaml:"drop,omitempty" json:"drop,omitempty"`
	// Duplicate: delivered twice, the copy not flagged as redelivered.
	Duplicate int `yaml:"duplicate,omitempty" json:"duplicate,omitempty"`
	// DuplicateRedelivered: delivered twice, the copy flagged redelivered.
	DuplicateRedelivered int `yaml:"duplicate_redelivered,omitempty" json:"duplicate_redelivered,omitempty"`
	// Reorder: held back and delivered right after the next message of the
	// same producer in the same ordering domain.
	Reorder int `yaml:"reorder,omitempty" json:"reorder,omitempty"`
	// Corrupt: one byte of the delivered copy flipped.
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
