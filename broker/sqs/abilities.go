package sqs

import "github.com/mqcheck/mqcheck/broker"

// Abilities: the embedded goaws server and a private fauxqs process are one
// node mqcheck can kill and start again (empty: the emulators keep nothing);
// neither can be frozen. An emulator in a container is one node mqcheck
// kills, starts again and freezes (the engine's pause). An endpoint at a
// URL is only reached over the network.
func Abilities(_ *Config, target string) broker.Abilities {
	switch target {
	case broker.TargetURL:
		return broker.Abilities{Network: true}
	case broker.TargetContainer:
		return broker.Abilities{Nodes: 1, Pause: true, Network: true}
	}
	return broker.Abilities{Nodes: 1, Network: true}
}

// Footprint of an aws-sdk-go-v2 client with the swarm's share: an HTTP
// connection per request in flight (a FIFO producer sends one lane per
// message group), and a client with its own transport each. The figures
// are the RabbitMQ client's with headroom for the SDK's middleware stack;
// the embedded server's end of each connection is counted as one more.
func Footprint(c *Config, _ broker.Spec) broker.Footprint {
	lanes := 1
	if c != nil {
		lanes = max(1, c.SendConcurrency) * max(1, c.GroupsPerProducer)
	}
	return broker.Footprint{ProducerBytes: 256 << 10, ConsumerBytes: 256 << 10, ProducerConns: 2 * lanes, ConsumerConns: 2}
}
