package nats

import "github.com/mqcheck/mqcheck/broker"

// Abilities: the embedded server is one node or three mqcheck shuts down
// and starts again (an in-process server cannot be frozen); the private
// server is one node it kills and pauses; a server at a URL is only
// reached over the network.
func Abilities(c *Config, target string) broker.Abilities {
	switch target {
	case broker.TargetURL:
		return broker.Abilities{Network: true}
	case broker.TargetExec, broker.TargetContainer:
		return broker.Abilities{Nodes: 1, Pause: true, Network: true}
	}
	n := 1
	if c != nil && c.Cluster > 1 {
		n = c.Cluster
	}
	return broker.Abilities{Nodes: n, Network: true, Instead: "pause the exec target (SIGSTOP)"}
}

// Footprint of a nats.go client: one connection each (and the embedded
// server's end of it), its read and write buffers, and an async publisher's
// ack futures.
func Footprint(_ *Config, _ broker.Spec) broker.Footprint {
	return broker.Footprint{ProducerBytes: 256 << 10, ConsumerBytes: 256 << 10, ProducerConns: 2, ConsumerConns: 2}
}
