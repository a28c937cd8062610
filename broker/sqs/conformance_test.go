package sqs_test

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/units"
)

// fast is a configuration for tests: visibility timeouts of 2s, so that a
// crashed consumer's messages come back within the checks' time.
func fast() *sqs.Config {
	v, w := units.Duration(2*time.Second), units.Duration(time.Second)
	return &sqs.Config{VisibilityTimeout: &v, WaitTime: &w}
}

// secretsUnsupported: the kind has no credential in its configuration.
const secretsUnsupported = "credentials come from the AWS chain (environment, profile, role), never from the scenario, so no error or description can show one"

// TestConformanceGoaws runs the conformance suite on embedded goaws.
func TestConformanceGoaws(t *testing.T) {
	t.Parallel()
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target = broker.TargetEmbedded
		return sqs.Open(ctx, fast(), spec, env)
	}
	brokertest.Run(t, brokertest.Harness{
		Open:            open,
		OpenRestartable: open,
		Caps: brokertest.Caps{Unsupported: map[string]string{
			brokertest.CapRejectFlag: "goaws v0.5.4 never counts receives (ApproximateReceiveCount is always 1): a message given back comes again unflagged",
			brokertest.CapCrashFlag:  "goaws v0.5.4 never counts receives (ApproximateReceiveCount is always 1)",
			brokertest.CapSecrets:    secretsUnsupported,
		}},
	})
}

// TestConformanceFauxqs runs the conformance suite on a private fauxqs.
func TestConformanceFauxqs(t *testing.T) {
	t.Parallel()
	requireFauxqs(t)
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target = broker.TargetExec
		return sqs.Open(ctx, fast(), spec, env)
	}
	brokertest.Run(t, brokertest.Harness{
		Open:            open,
		OpenRestartable: open,
		Caps: brokertest.Caps{Unsupported: map[string]string{
			brokertest.CapSecrets: secretsUnsupported,
		}},
	})
}
