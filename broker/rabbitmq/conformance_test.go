package rabbitmq_test

import (
	"context"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/brokertest"
)

// TestConformance runs the driver conformance suite: on the shared private
// node (as a url target) for most checks, on a node of its own for the
// restart, and with a password in the URL of a port where nothing listens.
func TestConformance(t *testing.T) {
	url := sharedURL(t)
	config := func(spec broker.Spec) *rabbitmq.Config {
		c := &rabbitmq.Config{}
		if spec.Subscriptions > 1 {
			// Point to point has one queue whose consumers compete.
			c.Pattern = "fanout"
		}
		return c
	}
	brokertest.Run(t, brokertest.Harness{
		Open: func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
			spec.Target, spec.URL = broker.TargetURL, url
			return rabbitmq.Open(ctx, config(spec), spec, env)
		},
		OpenRestartable: func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
			spec.Target = broker.TargetExec
			return rabbitmq.Open(ctx, config(spec), spec, env)
		},
		OpenWithSecret: func(ctx context.Context, secret string, env broker.Env) (*broker.Target, error) {
			addr := brokertest.ClosedAddr(t)
			spec := broker.Spec{Target: broker.TargetURL, URL: "amqp://mq:" + secret + "@" + addr + "/vh", Destination: "secrets"}
			return rabbitmq.Open(ctx, nil, spec, env)
		},
	})
}
