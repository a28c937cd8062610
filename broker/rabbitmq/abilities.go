package rabbitmq

import "github.com/mqcheck/mqcheck/broker"

// Abilities: a private node (exec) is one node mqcheck can kill, stop and
// freeze; a broker at a URL is only reached over the network.
func Abilities(_ *Config, target string) broker.Abilities {
	if target == broker.TargetURL {
		return broker.Abilities{Network: true}
	}
	return broker.Abilities{Nodes: 1, Pause: true, Network: true}
}

// Footprint of an amqp091-go client, the swarm's share included: one
// connection each; measured at about 80KB a producer and 100KB a consumer
// (mqcheck run with 200 of each against a private node), with headroom.
// The node runs in a process of its own.
func Footprint(*Config, broker.Spec) broker.Footprint {
	return broker.Footprint{ProducerBytes: 128 << 10, ConsumerBytes: 160 << 10, ProducerConns: 1, ConsumerConns: 1}
}
