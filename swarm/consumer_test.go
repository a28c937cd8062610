package swarm

import (
	"context"
	"errors"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/message"
)

// TestFailForGood: a message the consumers fail on purpose is failed again
// when it comes back redelivered if the failure is for good (dead-letter:
// the broker may never have got the first rejection, the connection died
// first), and taken when it was a requeue (a retry gets past it).
func TestFailForGood(t *testing.T) {
	const runID = 42
	enc, err := message.NewEncoder(runID, 0, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	payload := enc.Encode(enc.NewBuffer(), 7, 1, 1)
	for _, tt := range []struct {
		name       string
		deadLetter bool
		want       error // for the redelivery
	}{
		{"dead-letter", true, broker.ErrDeadLetter},
		{"requeue", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			names := checker.NewNames("sub-0")
			col := NewCollector(checker.New(names))
			defer col.Close()
			// Every message fails.
			cfg := &Config{RunID: runID, FailFraction: 0.999999, FailDeadLetter: tt.deadLetter}
			c, err := newConsumer(context.Background(), 0, 0, cfg, fakeDriver{}, col, names, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := c.handle(&broker.Delivery{Payload: payload, Domain: "q"})
			if first == nil {
				t.Fatal("the first delivery was taken; want it failed")
			}
			again := c.handle(&broker.Delivery{Payload: payload, Domain: "q", Redelivered: true})
			if !errors.Is(again, tt.want) {
				t.Errorf("redelivery: %v, want %v", again, tt.want)
			}
		})
	}
}

type fakeDriver struct{}

func (fakeDriver) Setup(context.Context) error { return nil }
func (fakeDriver) NewProducer(context.Context, broker.ProducerOptions) (broker.Producer, error) {
	return nil, errors.New("no producers")
}
func (fakeDriver) NewConsumer(context.Context, broker.ConsumerOptions) (broker.Consumer, error) {
	return nil, nil
}
func (fakeDriver) Close(context.Context) error { return nil }
