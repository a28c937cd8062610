package sqs_test

import (
	"errors"
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
	// AWS's queue counts lag the sends: a url target's backlog is not
	// taken as empty right after one (a drain would call late messages
	// lost); the embedded server's counts are exact.
	if err := url.Driver.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan broker.Outcome, 1)
	p, err := url.Driver.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) { done <- o }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(ctx, &broker.Message{Payload: []byte("mqcheck backlog probe")}); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o != broker.Acked {
		t.Fatalf("send: %s", o)
	}
	if _, err := url.Driver.(broker.Backlogger).Backlog(ctx); !errors.Is(err, sqs.ErrBacklogUnproven) || !errors.Is(err, broker.ErrCannotCount) {
		t.Errorf("backlog of a url target right after a send: %v, want it unproven and not countable (a split run's drain then ends on quiet)", err)
	}
	requireFauxqs(t)
	exec := open(broker.Spec{Target: broker.TargetExec, Destination: "abilities-exec"})
	if err := sqs.Abilities(nil, broker.TargetExec).Check(exec); err != nil {
		t.Errorf("exec: %v", err)
	}
}
