package scenarios

import (
	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kafka"
	"github.com/mqcheck/mqcheck/broker/memory"
)

// sectionOf is the broker.<name> section of s: its Config for its own
// kind, else one kept for Validate to report.
func sectionOf(s *Scenario, name string) broker.Config {
	if s.Broker.Kind == name {
		return s.Broker.Config
	}
	return s.Broker.others[name]
}

func kafkaOf(s *Scenario) *kafka.Config {
	c, _ := sectionOf(s, "kafka").(*kafka.Config)
	return c
}

func memoryOf(s *Scenario) *memory.Config {
	c, _ := sectionOf(s, "memory").(*memory.Config)
	return c
}
