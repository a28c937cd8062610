package nats_test

import (
	"context"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// TestAbilities: what Abilities declares for each target is what the
// target Open returns can do, so that validate refuses what run refuses.
func TestAbilities(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target string
		cfg    *nats.Config
	}{
		{broker.TargetEmbedded, &nats.Config{}},
		{broker.TargetEmbedded, &nats.Config{Cluster: 3, Replicas: 3}},
		{broker.TargetExec, &nats.Config{}},
	} {
		t.Run(tc.target, func(t *testing.T) {
			t.Parallel()
			if tc.target == broker.TargetExec {
				testenv.Require(t, "nats", nats.ExecInstalled())
			}
			ctx := context.Background()
			tgt, err := nats.Open(ctx, tc.cfg, broker.Spec{Target: tc.target}, broker.Env{RunID: "abilities", Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}()
			if err := nats.Abilities(tc.cfg, tc.target).Check(tgt); err != nil {
				t.Error(err)
			}
		})
	}
	if a := nats.Abilities(nil, broker.TargetURL); a.Nodes != 0 || !a.Network {
		t.Errorf("url abilities %+v: want network only", a)
	}
}
