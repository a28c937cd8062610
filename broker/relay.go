package broker

import "context"

// RelaySpec is a consume-transform-produce stage between the producers and
// the consumers: Workers read what the producers write, in one consumer
// group, and write it unchanged to a second destination, which the
// consumers read instead.
type RelaySpec struct {
	// Workers in the relay's group; 0 means no relay.
	Workers int
	// Transactional: each worker writes what it read in a transaction that
	// also commits its input offsets, so that a crash between the two
	// writes neither (Kafka's exactly-once, KIP-447). Without, it writes
	// and then commits: a crash in between writes the records again.
	Transactional bool
	// Destination the relay writes and the consumers read; "" means the
	// driver's default.
	Destination string
}

// Relay is a target's running relay stage, for the faults that act on it.
type Relay interface {
	// Workers is the number of relay workers.
	Workers() int
	// Crash kills worker i mid-batch: it writes part of what it is
	// relaying, then dies before it commits anything (its transaction, or
	// its input offsets), as a killed process would; a new worker with its
	// identity takes its place. It returns once the new worker runs.
	Crash(ctx context.Context, i int) error
	// Zombie starts a second instance of worker i with its identity while
	// the first keeps running and writing, as after a long pause the first
	// does not know about: the broker must fence the first. It returns
	// what the first instance did once fenced, for the report.
	Zombie(ctx context.Context, i int) (string, error)
}
