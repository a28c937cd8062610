package sqs_test

import (
	"path/filepath"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/brokertest"
)

// TestURLTargetKeepsItsEndpoint: a url target talks to broker.url, also
// where the AWS configuration names other endpoints for SQS and SNS
// (AWS_ENDPOINT_URL_SQS, a profile's services section), which the SDK
// would otherwise prefer: the verdict must be about the broker the
// scenario names.
func TestURLTargetKeepsItsEndpoint(t *testing.T) {
	// fauxqs, which takes the queue policy SNS fan-out sets on a url
	// target (goaws refuses it).
	requireFauxqs(t)
	ctx := t.Context()
	emb, err := sqs.Open(ctx, fast(), broker.Spec{Target: broker.TargetExec, Destination: "endpoint-exec"},
		broker.Env{RunID: "endpoint-exec", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close(ctx) })
	// Credentials from the environment, nothing from this machine's
	// files, and elsewhere (a port where nothing listens) for both
	// services.
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_REGION":                  "us-east-1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ENDPOINT_URL_SQS":        "http://" + brokertest.ClosedAddr(t),
		"AWS_ENDPOINT_URL_SNS":        "http://" + brokertest.ClosedAddr(t),
	} {
		t.Setenv(k, v)
	}
	tgt, err := sqs.Open(ctx, fast(), broker.Spec{Target: broker.TargetURL, URL: sqs.EndpointURL(emb), Destination: "endpoint-url", Subscriptions: 2},
		broker.Env{RunID: "endpoint-url", Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("opening a url target: %v", err)
	}
	t.Cleanup(func() { _ = tgt.Driver.Close(ctx) })
	// Queues, topic and subscriptions: SQS and SNS calls both.
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Errorf("setup on %s: %v", sqs.EndpointURL(emb), err)
	}
}
