package nats_test

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/units"
)

// fast is a configuration for tests: an ack wait of 2s, so that a crashed
// consumer's messages come back within the checks' time.
func fast() *nats.Config {
	return &nats.Config{AckWait: units.Duration(2 * time.Second)}
}

// openWithSecret opens a url target whose password is secret, on a port
// where no server listens.
func openWithSecret(ctx context.Context, secret string, env broker.Env) (*broker.Target, error) {
	return nats.Open(ctx, &nats.Config{User: "mqcheck", Password: secret},
		broker.Spec{Target: broker.TargetURL, URL: "nats://u:" + secret + "@127.0.0.1:1"}, env)
}

// TestConformanceEmbedded runs the conformance suite on the embedded
// server, pull and push consumers.
func TestConformanceEmbedded(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"pull", "push"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
				spec.Target = broker.TargetEmbedded
				c := fast()
				c.Consumer = kind
				return nats.Open(ctx, c, spec, env)
			}
			brokertest.Run(t, brokertest.Harness{Open: open, OpenRestartable: open, OpenWithSecret: openWithSecret})
		})
	}
}

// TestConformanceExec runs the conformance suite on a private nats-server.
func TestConformanceExec(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "nats", nats.ExecInstalled())
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target = broker.TargetExec
		return nats.Open(ctx, fast(), spec, env)
	}
	brokertest.Run(t, brokertest.Harness{Open: open, OpenRestartable: open, OpenWithSecret: openWithSecret})
}
