package sqs_test

import (
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
)

// TestAbilitiesMatchTarget: what validate assumes of each target (restart
// or not, no pause, network faults possible) is what Open gives.
func TestAbilitiesMatchTarget(t *testing.T) {
	ctx := t.Context()
	open := func(spec broker.Spec) *broker.Target {
		t.Helper()
		tgt, err := sqs.Open(ctx, fast(), spec, broker.Env{RunID: spec.Destination, Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("opening %s target: %v", spec.Target, err)
		}
		t.Cleanup(func() { _ = tgt.Close(ctx) })
		return tgt
	}
	emb := open(broker.Spec{Target: broker.TargetEmbedded, Destination: "abilities-embedded"})
	if err := sqs.Abilities(nil, broker.TargetEmbedded).Check(emb); err != nil {
		t.Errorf("embedded: %v", err)
	}
	// A url target takes its credentials from the AWS chain: the
	// environment's, so that nothing asks the instance metadata service.
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	url := open(broker.Spec{Target: broker.TargetURL, URL: sqs.EndpointURL(emb), Destination: "abilities-url"})
	if err := sqs.Abilities(nil, broker.TargetURL).Check(url); err != nil {
		t.Errorf("url: %v", err)
	}
	requireFauxqs(t)
	exec := open(broker.Spec{Target: broker.TargetExec, Destination: "abilities-exec"})
	if err := sqs.Abilities(nil, broker.TargetExec).Check(exec); err != nil {
		t.Errorf("exec: %v", err)
	}
}
