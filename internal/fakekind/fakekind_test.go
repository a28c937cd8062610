package fakekind

import (
	"context"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/brokertest"
)

// TestConformance: a kind runs the driver conformance suite, as every kind
// must.
func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		Open: func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
			return Open(ctx, &Config{Lanes: 4}, spec, env)
		},
		Caps: brokertest.Caps{Unsupported: map[string]string{
			brokertest.CapRestart: "the fake broker lives in the mqcheck process",
			brokertest.CapSecrets: "the fake broker takes no credentials",
		}},
	})
}
