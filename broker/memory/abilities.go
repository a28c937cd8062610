package memory

import "github.com/mqcheck/mqcheck/broker"

// Abilities: the memory broker lives inside mqcheck, so there is nothing
// to restart, pause, move or put a proxy in front of, and no command can
// reach it; its faults are its own.
func Abilities(*Config, string) broker.Abilities {
	return broker.Abilities{Instead: "the memory broker lives inside mqcheck: inject its faults with broker.memory.faults " +
		"(drop, duplicate, reorder, corrupt, reject, phantom, withheld acks), or crash clients with consumer-crash and producer-crash"}
}

// Footprint of a memory broker client, the swarm's share included:
// measured at about 45KB a producer and 125KB a consumer (mqcheck run with
// 2000 of each at a low rate), with headroom. No sockets.
func Footprint(*Config, broker.Spec) broker.Footprint {
	return broker.Footprint{ProducerBytes: 64 << 10, ConsumerBytes: 192 << 10}
}
