package kafka

import (
	"strings"

	"github.com/mqcheck/mqcheck/broker"
)

// Abilities: the embedded cluster is mqcheck's to restart, freeze and move
// leaders on, node by node; a cluster at a URL is only reached over the
// network.
func Abilities(cfg *Config, target string) broker.Abilities {
	switch target {
	case broker.TargetURL:
		return broker.Abilities{Network: true}
	case broker.TargetContainer:
		return broker.Abilities{Nodes: 1, Pause: true, Network: true}
	}
	return broker.Abilities{Nodes: withDefaults(cfg).Brokers, Pause: true, MoveLeaders: true, DropTxnAnswers: true, Network: true}
}

// Footprint of a franz-go client, the swarm's share included: measured at
// about 670KB a producer and 1.4MB a consumer (mqcheck run with 300 of
// each on the embedded cluster), with headroom. franz-go keeps a
// connection per broker for each kind of request a client makes (produce
// and metadata; fetch, group and metadata for a consumer); the embedded
// cluster holds the other end of each in this process.
func Footprint(cfg *Config, spec broker.Spec) broker.Footprint {
	brokers, ends := withDefaults(cfg).Brokers, 2
	switch spec.Target {
	case broker.TargetURL:
		brokers, ends = max(1, len(strings.Split(spec.URL, ","))), 1
	case broker.TargetContainer:
		brokers, ends = 1, 1
	}
	return broker.Footprint{ProducerBytes: 1 << 20, ConsumerBytes: 2 << 20,
		ProducerConns: 2 * brokers * ends, ConsumerConns: 3 * brokers * ends}
}

// withDefaults is a copy of cfg (nil: empty) with the defaults filled in.
func withDefaults(cfg *Config) Config {
	var c Config
	if cfg != nil {
		c = *cfg
		c.SASL, c.TLS = nil, nil // not read here; defaults must not touch the caller's
	}
	c.ApplyDefaults()
	return c
}
