package redis

import "github.com/mqcheck/mqcheck/broker"

// Abilities: the private redis-server is one node mqcheck can kill, shut
// down, start again and freeze; miniredis and a server at a URL cannot be
// restarted.
func Abilities(c *Config, target string) broker.Abilities {
	switch target {
	case "", broker.TargetExec:
		n := 1
		if c != nil {
			n += max(c.Replicas, 0)
		}
		return broker.Abilities{Nodes: n, Pause: true, Network: true}
	case broker.TargetContainer:
		return broker.Abilities{Nodes: 1, Pause: true, Network: true}
	case broker.TargetEmbedded:
		return broker.Abilities{Network: true, Instead: "miniredis (target embedded) cannot be restarted or paused; use target exec for broker faults"}
	}
	return broker.Abilities{Network: true}
}

// Footprint of a go-redis client with the swarm's share: a pool of at most
// two connections each (the server's end counted too for miniredis, which
// lives in the process).
func Footprint(_ *Config, spec broker.Spec) broker.Footprint {
	conns := 2
	if spec.Target == broker.TargetEmbedded {
		conns = 4
	}
	return broker.Footprint{ProducerBytes: 256 << 10, ConsumerBytes: 256 << 10, ProducerConns: conns, ConsumerConns: conns}
}
