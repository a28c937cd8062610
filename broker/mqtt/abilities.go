package mqtt

import "github.com/mqcheck/mqcheck/broker"

// Abilities: the embedded server and a private mosquitto are one node
// mqcheck can stop and start again, keeping sessions; neither can be
// frozen. A private RabbitMQ node can be frozen too (SIGSTOP of its VM).
// A broker at a URL is only reached over the network. Every client
// connects over TCP, the embedded server's too.
func Abilities(_ *Config, target string) broker.Abilities {
	switch target {
	case broker.TargetURL:
		return broker.Abilities{Network: true}
	case broker.TargetContainer, TargetRabbitMQ:
		// A container is frozen by the engine (cgroup freezer); a RabbitMQ
		// node by SIGSTOP.
		return broker.Abilities{Nodes: 1, Pause: true, Network: true}
	}
	return broker.Abilities{Nodes: 1, Network: true}
}

// Footprint of one paho client: a connection with its reader, router and
// pinger goroutines and buffers. On the embedded target the connection is
// in memory (no descriptor) unless the run has network faults, when it
// goes over TCP through a proxy (four descriptors: the capacity check
// triples this one, a slight underestimate there).
func Footprint(_ *Config, _ broker.Spec) broker.Footprint {
	return broker.Footprint{ProducerBytes: 64 << 10, ConsumerBytes: 64 << 10, ProducerConns: 1, ConsumerConns: 1}
}
