package memory

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/units"
)

// TestConformance runs the driver conformance suite. Confirms come 20ms
// late, so that Close has publishes in flight to complete.
func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		Open: func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
			return Open(ctx, &Config{AckLatency: units.Duration(20 * time.Millisecond)}, spec, env)
		},
		Caps: brokertest.Caps{Unsupported: map[string]string{
			brokertest.CapRestart: "the memory broker lives in the mqcheck process: there is nothing to restart",
			brokertest.CapSecrets: "the memory broker takes no credentials",
		}},
	})
}
