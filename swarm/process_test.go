package swarm

import (
	"context"
	"errors"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/message"
	"github.com/mqcheck/mqcheck/processing"
)

// failingStore fails every Process.
type failingStore struct{ processing.Store }

func (failingStore) Open(context.Context, int) (processing.Processor, error) {
	return failingProc{}, nil
}

type failingProc struct{}

func (failingProc) Process(context.Context, processing.Key, int64, processing.Point) (processing.Outcome, error) {
	return 0, errors.New("store down")
}
func (failingProc) Close() error { return nil }

// TestConsumerProcessing: a consumer with a store processes each clean
// delivery through it, crashes at the point asked, starts a new process
// (a new map, for store memory) after a crash, and gives a delivery the
// store failed back to the broker.
func TestConsumerProcessing(t *testing.T) {
	const runID = 42
	enc, err := message.NewEncoder(runID, 0, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	payload := enc.Encode(enc.NewBuffer(), 7, 1, 1)
	deliver := func(c *consumer) error { return c.handle(&broker.Delivery{Payload: payload, Domain: "q"}) }
	newC := func(t *testing.T, store processing.Store) (*consumer, *procStats) {
		names := checker.NewNames("sub-0")
		col := NewCollector(checker.New(names))
		t.Cleanup(col.Close)
		st := &procStats{}
		c, err := newConsumer(context.Background(), 0, 0, &Config{RunID: runID, Clock: monoClock{}, Processing: store}, fakeDriver{}, col, names, nil, st)
		if err != nil {
			t.Fatal(err)
		}
		return c, st
	}
	count := func(st *procStats) [4]uint64 {
		return [4]uint64{st.applied.Load(), st.skipped.Load(), st.stopped.Load(), st.errs.Load()}
	}

	t.Run("memory: repeat skipped, crash after dedupe, new process after a crash", func(t *testing.T) {
		store, _ := processing.Open(context.Background(), processing.Options{Kind: processing.Memory})
		c, st := newC(t, store)
		if err := deliver(c); err != nil {
			t.Fatal(err)
		}
		if err := deliver(c); err != nil {
			t.Fatal(err)
		}
		if got := count(st); got != [4]uint64{1, 1, 0, 0} {
			t.Fatalf("applied, skipped, stopped, errors %v; want the repeat skipped", got)
		}
		// A crash after the dedupe step of a new message.
		payload = enc.Encode(enc.NewBuffer(), 8, 1, 1)
		c.crashPoint.Store(uint32(processing.AfterDedupe))
		c.crash.wanted.Store(true)
		if err := deliver(c); !errors.Is(err, errCrash) {
			t.Fatalf("crash: %v, want errCrash", err)
		}
		c.crash.wanted.Store(false)
		if got := count(st); got != [4]uint64{1, 1, 1, 0} {
			t.Fatalf("after the crash: %v; want one stopped", got)
		}
		// The process died: its replacement's map is empty, and the
		// redelivery is applied.
		if err := c.openProcessor(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := deliver(c); err != nil {
			t.Fatal(err)
		}
		if got := count(st); got != [4]uint64{2, 1, 1, 0} {
			t.Fatalf("after the restart: %v; want the redelivery applied", got)
		}
	})
	t.Run("store failure gives the delivery back", func(t *testing.T) {
		c, st := newC(t, failingStore{})
		if err := deliver(c); !errors.Is(err, broker.ErrReject) {
			t.Fatalf("%v, want a rejection", err)
		}
		if got := count(st); got != [4]uint64{0, 0, 0, 1} || c.receivedLive() != 0 {
			t.Fatalf("counts %v, received %d; want one error, nothing received", got, c.receivedLive())
		}
	})
}
