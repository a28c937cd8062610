package sqs_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/units"
)

func dur(d time.Duration) *units.Duration { u := units.Duration(d); return &u }

// TestValidate: every bad value is reported with its YAML path; defaults
// validate.
func TestValidate(t *testing.T) {
	def := &sqs.Config{}
	def.ApplyDefaults()
	if ps := brokertest.Problems(def); ps != nil {
		t.Fatalf("defaults: %v", ps)
	}
	for _, tc := range []struct {
		cfg  sqs.Config
		want string
	}{
		{sqs.Config{QueueType: "lifo"}, "broker.sqs.queue_type"},
		{sqs.Config{Deduplication: "id"}, "broker.sqs.deduplication: only FIFO"},
		{sqs.Config{QueueType: "fifo", Deduplication: "hash"}, "broker.sqs.deduplication"},
		{sqs.Config{GroupsPerProducer: 2}, "broker.sqs.groups_per_producer"},
		{sqs.Config{BatchSize: 11}, "broker.sqs.batch_size"},
		{sqs.Config{MaxMessages: 11}, "broker.sqs.max_messages"},
		{sqs.Config{WaitTime: dur(21 * time.Second)}, "broker.sqs.wait_time"},
		{sqs.Config{WaitTime: dur(1500 * time.Millisecond)}, "broker.sqs.wait_time: 1.5s is not whole seconds"},
		{sqs.Config{VisibilityTimeout: dur(13 * time.Hour)}, "broker.sqs.visibility_timeout"},
		{sqs.Config{MaxReceiveCount: 1001}, "broker.sqs.max_receive_count"},
		{sqs.Config{DuplicateSends: -1}, "broker.sqs.duplicate_sends"},
	} {
		ps := brokertest.Problems(&tc.cfg)
		if len(ps) != 1 || !strings.HasPrefix(ps[0], tc.want) {
			t.Errorf("%+v: problems %q, want one starting %q", tc.cfg, ps, tc.want)
		}
	}
}

// TestCheckSpec: combinations with the rest of the scenario SQS cannot run.
func TestCheckSpec(t *testing.T) {
	fifo := &sqs.Config{QueueType: "fifo"}
	std := &sqs.Config{}
	for _, tc := range []struct {
		cfg  *sqs.Config
		spec broker.Spec
		want string
	}{
		{fifo, broker.Spec{Destination: "orders"}, "broker.destination"},
		{std, broker.Spec{Destination: "orders.fifo"}, "broker.destination"},
		{std, broker.Spec{Destination: "a/b"}, "broker.destination"},
		{std, broker.Spec{MessageSize: 256<<10 + 1}, "producers.message_size"},
		{std, broker.Spec{MessageSize: 63}, "producers.message_size"},
		{std, broker.Spec{Claims: []string{"at-least-once", "sqs-fifo"}}, "claims.1"},
		{std, broker.Spec{FailAction: broker.FailDeadLetter}, "consumers.fail_action"},
		{&sqs.Config{DuplicateSends: 1}, broker.Spec{Subscriptions: 2}, "broker.sqs.duplicate_sends"},
		// goaws's gaps, refused by validate as by run: on the default
		// target and on embedded.
		{&sqs.Config{QueueType: "fifo", Deduplication: "content"}, broker.Spec{}, "broker.sqs.deduplication"},
		{fifo, broker.Spec{Target: broker.TargetEmbedded, Subscriptions: 2}, "consumers.subscriptions"},
		{fifo, broker.Spec{Keys: 8}, "producers.keys"},
	} {
		err := tc.cfg.CheckSpec(tc.spec)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v with %+v: %v, want a problem with %s", tc.cfg, tc.spec, err, tc.want)
		}
	}
	ok := []struct {
		cfg  *sqs.Config
		spec broker.Spec
	}{
		{fifo, broker.Spec{Destination: "orders.fifo", Claims: []string{"sqs-fifo"}, MessageSize: 256 << 10}},
		{&sqs.Config{MaxReceiveCount: 3}, broker.Spec{FailAction: broker.FailDeadLetter, MessageSize: 64}},
		// fauxqs has what goaws lacks; a standard queue has no groups.
		{&sqs.Config{QueueType: "fifo", Deduplication: "content"}, broker.Spec{Target: broker.TargetExec, Subscriptions: 2, Keys: 8}},
		{std, broker.Spec{Keys: 8, Subscriptions: 2}},
	}
	for _, tc := range ok {
		if err := tc.cfg.CheckSpec(tc.spec); err != nil {
			t.Errorf("%+v with %+v: %v", tc.cfg, tc.spec, err)
		}
	}
	if !slices.Contains(fifo.Enums()["queue_type"], "fifo") {
		t.Error("enums lack fifo")
	}
}

// TestTwoEmbeddedTargets: goaws is one per process; two embedded targets
// share it under queue names of their own, and a name in use is refused.
func TestTwoEmbeddedTargets(t *testing.T) {
	ctx := t.Context()
	open := func(dest string) (*broker.Target, error) {
		return sqs.Open(ctx, fast(), broker.Spec{Target: broker.TargetEmbedded, Destination: dest}, broker.Env{RunID: dest, Dir: t.TempDir()})
	}
	a, err := open("two-a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	b, err := open("two-b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	for _, tgt := range []*broker.Target{a, b} {
		if err := tgt.Driver.Setup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := open("two-a"); !errors.Is(err, broker.ErrConfig) || !strings.Contains(err.Error(), "two-a") {
		t.Errorf("a second target on queue two-a: %v, want a scenario error naming it", err)
	}
}
