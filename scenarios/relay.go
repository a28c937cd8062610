package scenarios

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mqcheck/mqcheck/broker"
)

// Relay is a consume-transform-produce stage between the producers and the
// consumers: its workers read what the producers write, in one consumer
// group, and write every message unchanged (mqcheck's header included) to a
// second destination, which the consumers read instead. Only kinds that run
// one (kafka) take it.
type Relay struct {
	// Workers in the relay's consumer group; 0 (the default) means no relay.
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"`
	// Transactional: each worker writes what it read in a transaction that
	// also commits its input offsets (Kafka's exactly-once
	// consume-transform-produce, KIP-447), so a worker that dies writes
	// nothing twice. false writes, then commits (at-least-once): what a
	// worker wrote and had not committed when it died is written again.
	// Default true.
	Transactional *bool `yaml:"transactional,omitempty" json:"transactional,omitempty"`
	// Destination is the topic the relay writes and the consumers read;
	// default: the producers' destination with "-relayed" appended.
	Destination string `yaml:"destination,omitempty" json:"destination,omitempty"`
}

// On reports whether the scenario has a relay.
func (r Relay) On() bool { return r.Workers > 0 }

// IsTransactional applies the default.
func (r Relay) IsTransactional() bool { return r.Transactional == nil || *r.Transactional }

func (r Relay) spec() broker.RelaySpec {
	if !r.On() {
		return broker.RelaySpec{}
	}
	return broker.RelaySpec{Workers: r.Workers, Transactional: r.IsTransactional(), Destination: r.Destination}
}

// applyDefaults fills transactional on a relay, so the resolved scenario
// says which relay ran.
func (r *Relay) applyDefaults() {
	if r.On() && r.Transactional == nil {
		t := true
		r.Transactional = &t
	}
}

// validateRelay checks the relay against the broker kind, and the faults
// that act on it against the relay.
func (s *Scenario) validateRelay(p *problems, ks broker.Kinds) {
	r := s.Relay
	switch {
	case r.Workers < 0:
		p.add("relay.workers", "must not be negative (0: no relay), got %d", r.Workers)
	case !r.On() && (r.Transactional != nil || r.Destination != ""):
		p.add("relay.workers", "is 0, yet the relay is configured: set workers (e.g. 2) or remove relay")
	case r.On():
		var relaying []string
		for _, k := range ks {
			if k.Relay {
				relaying = append(relaying, k.Name)
			}
		}
		if k, ok := ks.Lookup(s.Broker.Kind); ok && !k.Relay {
			p.add("relay", "a relay stage runs on %s only; %s has none (remove relay)", strings.Join(relaying, ", "), s.Broker.Kind)
		}
		if r.Destination != "" && r.Destination == s.Broker.Destination {
			p.add("relay.destination", "%q is the producers' destination too: the relay would read what it writes", r.Destination)
		}
	}
	for i, f := range s.Faults {
		if !slices.Contains(relayFaultKinds, f.Kind) {
			continue
		}
		path := "faults." + strconv.Itoa(i)
		if !r.On() {
			p.add(path+".kind", "%s acts on the relay, and the scenario has none (relay.workers)", f.Kind)
			continue
		}
		if f.Client < -1 || f.Client >= r.Workers {
			p.add(path+".client", "must be -1 (every worker) or a relay worker below %d (relay.workers), got %d", r.Workers, f.Client)
		}
	}
}
