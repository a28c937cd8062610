package rabbitmq_test

import (
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestPatterns runs the routing patterns and queue types a clean run must
// pass with, each on the shared node: every message reaches every
// subscription once and in order.
func TestPatterns(t *testing.T) {
	sharedURL(t)
	cases := []struct {
		name   string
		mutate func(s *scenarios.Scenario)
	}{
		{"topic", func(s *scenarios.Scenario) {
			r := s.Broker.Config.(*rabbitmq.Config)
			r.Pattern, r.RoutingKeys, r.BindingKeys = "topic", []string{"orders.eu", "orders.us"}, []string{"orders.*"}
			s.Consumers.Subscriptions = 2
		}},
		{"direct", func(s *scenarios.Scenario) {
			r := s.Broker.Config.(*rabbitmq.Config)
			r.Pattern, r.RoutingKeys = "direct", []string{"a", "b"}
		}},
		{"stream", func(s *scenarios.Scenario) {
			s.Broker.Config.(*rabbitmq.Config).QueueType = "stream"
			s.Broker.Config.(*rabbitmq.Config).Pattern = "fanout"
			s.Consumers.Subscriptions = 2
		}},
		{"quorum", func(s *scenarios.Scenario) { s.Broker.Config.(*rabbitmq.Config).QueueType = "quorum" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := onShared(t, scenario(t, "pattern-"+tc.name, func(s *scenarios.Scenario) {
				s.Consumers.Count = 1
				s.Claims = []string{scenarios.ClaimExactlyOnce, scenarios.ClaimOrdered}
				tc.mutate(s)
			}))
			res := runScenario(t, s, nil)
			c := res.Counts
			subs := uint64(s.Consumers.Subscriptions)
			if res.Verdict != checker.Pass || c.Acked != c.Sent || c.Unique != subs*c.Sent || c.Received != c.Unique {
				t.Errorf("verdict %s, counts %+v: want every message once per subscription", res.Verdict, c)
			}
		})
	}
}
