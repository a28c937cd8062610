package kafka

import (
	"context"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/brokertest"
)

// TestConformance runs the driver conformance suite against embedded kfake
// clusters (one per check; an embedded target restarts in place), and a
// SASL password against a port where no broker listens.
func TestConformance(t *testing.T) {
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target = broker.TargetEmbedded
		env.Log = testLog()
		return Open(ctx, &Config{Brokers: 3, Partitions: 3}, spec, env)
	}
	brokertest.Run(t, brokertest.Harness{
		Open:            open,
		OpenRestartable: open,
		OpenWithSecret: func(ctx context.Context, secret string, env broker.Env) (*broker.Target, error) {
			cfg := &Config{SASL: &SASL{Mechanism: "SCRAM-SHA-256", User: "mq", Password: secret}}
			return Open(ctx, cfg, broker.Spec{Target: broker.TargetURL, URL: brokertest.ClosedAddr(t), Destination: "secrets"}, env)
		},
		Caps: brokertest.Caps{Unsupported: map[string]string{
			brokertest.CapCrashFlag: "Kafka has no redelivery flag: the next owner of a partition re-reads what a crashed member did not commit and cannot tell it from a first read",
		}},
	})
}
