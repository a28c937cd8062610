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
// pinger goroutines and buffers, and on the embedded target the server's
// end of it (a second descriptor in this process, and its goroutines).
func Footprint(_ *Config, spec broker.Spec) broker.Footprint {
	conns := 1
	if spec.Target == "" || spec.Target == broker.TargetEmbedded {
		conns = 2
	}
	return broker.Footprint{ProducerBytes: 64 << 10, ConsumerBytes: 64 << 10, ProducerConns: conns, ConsumerConns: conns}
}
