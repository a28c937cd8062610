package swarm

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/message"
)

var allClaims = []string{"at-most-once", "at-least-once", "exactly-once", "ordered"}

// runMemory runs a swarm against a fresh memory broker and returns the
// checker's result after a complete drain.
func runMemory(t *testing.T, cfg Config, mem memory.Config, seed int64) *checker.Result {
	t.Helper()
	b, err := memory.New(mem, max(cfg.Subscriptions, 1), seed)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	defer func() { _ = b.Close(ctx) }()
	sw := New(cfg, b, nil)
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	if err := sw.Produce(ctx); err != nil {
		t.Fatal(err)
	}
	dr := sw.Drain(ctx, 30*time.Second, 200*time.Millisecond)
	sw.Close()
	if !dr.Drained {
		t.Fatalf("drain: %s", dr.Reason)
	}
	return sw.Collector().Finalize(checker.Options{Drained: true, Claims: allClaims})
}

// TestStartupRebalancesKeepOrder: many short closed-loop runs on the
// fault-free memory broker, one producer and four consumers joining at the
// start (partitions move between them while the first batches are
// delivered), show no anomaly at all. A false fail of the reference
// broker would make every known-answer test doubtful.
func TestStartupRebalancesKeepOrder(t *testing.T) {
	const runs = 40
	deadline := time.Now().Add(40 * time.Second)
	bad := 0
	done := 0
	for i := range runs {
		if time.Now().After(deadline) {
			break
		}
		res := runMemory(t, Config{RunID: 1, Producers: 1, Consumers: 4, Duration: 150 * time.Millisecond,
			MessageSize: 64, MaxInFlight: 1000}, memory.Config{}, int64(i+1))
		done++
		c := res.Counts
		if c.Sent == 0 || c.Reordered != 0 || c.Duplicated != 0 || c.Lost != 0 || c.Unique != c.Acked || c.Acked != c.Sent {
			bad++
			t.Errorf("run %d: counts %+v; evidence %+v", i, c, res.Examples)
		}
	}
	t.Logf("%d runs, %d with anomalies", done, bad)
}

// TestSequencesStraddling2To32: a producer starting 10 below 2^32 sends,
// gets acks and has its messages received in both epochs, end to end
// (codec, swarm, memory broker, checker). The broker's faults hit the first
// 20 publishes, 2^32-10 .. 2^32+9: 12 are dropped (at least two of them in
// the upper epoch) and 8 stored twice; the checker counts exactly that and
// names the lost sequence numbers.
func TestSequencesStraddling2To32(t *testing.T) {
	start := uint64(1<<32 - 10)
	res := runMemory(t, Config{RunID: 1, Producers: 1, Consumers: 1, Rate: 1000, Duration: 500 * time.Millisecond,
		MessageSize: 64, StartSeq: start},
		memory.Config{Partitions: 1, Faults: memory.Faults{Window: 20, Drop: 12, Duplicate: 8}}, 1)
	c := res.Counts
	if c.Sent < 100 {
		t.Fatalf("only %d sent", c.Sent)
	}
	want := c
	want.Acked, want.Unique, want.Received = c.Sent, c.Sent-12, c.Sent-12+8
	want.Lost, want.Duplicated, want.DuplicatedStored = 12, 8, 8
	want.Failed, want.Indeterminate, want.Unexpected, want.Corrupted, want.Reordered = 0, 0, 0, 0, 0
	if c != want {
		t.Errorf("counts\n got %+v\nwant %+v", c, want)
	}
	var lost, upper uint64
	for _, x := range res.Examples["lost"] {
		if x.Seq < start || x.SeqEnd > start+19 {
			t.Errorf("lost evidence %+v outside the faulted publishes", x)
		}
		lost += x.SeqEnd - x.Seq + 1
		if x.SeqEnd >= 1<<32 {
			upper += x.SeqEnd - max(x.Seq, 1<<32) + 1
		}
	}
	if lost != 12 || upper < 2 {
		t.Errorf("lost evidence names %d messages, %d of them past 2^32; want 12 and at least 2: %+v", lost, upper, res.Examples["lost"])
	}
	for _, x := range res.Examples["duplicated_stored"] {
		if x.Seq < start || x.Seq > start+19 || x.Position == nil {
			t.Errorf("stored-twice evidence %+v: want a faulted publish with its position", x)
		}
	}
}

// TestForeignPayloadsAreNotCorrupted: payloads that are no mqcheck message
// of this run (a stray record on a shared topic, another run's message)
// are counted foreign with the reason, and fail no claim; only a damaged
// mqcheck message is corrupted (issue 11: one stray record failed a run).
func TestForeignPayloadsAreNotCorrupted(t *testing.T) {
	b, ctx := memBroker(t, memory.Config{Partitions: 1})
	sw := New(Config{RunID: 1, Producers: 1, Consumers: 1, Rate: 200, Duration: 300 * time.Millisecond, MessageSize: 64}, b, nil)
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	// A stranger on the same topic, producer id 9 so it cannot clash.
	other, err := message.NewEncoder(2, 0, 64, 1) // run 2
	if err != nil {
		t.Fatal(err)
	}
	newer := other.Encode(other.NewBuffer(), 0, 1, 1)
	newer[2] = message.VersionFlags + 1 // a header version this mqcheck does not know
	stray := [][]byte{[]byte("hello"), []byte(strings.Repeat("not an mqcheck message ", 4)),
		other.Encode(other.NewBuffer(), 5, 1, 1), newer}
	done := make(chan struct{}, len(stray))
	p, err := b.NewProducer(ctx, broker.ProducerOptions{ID: 9, OnComplete: func(*broker.Message, broker.Outcome, error) { done <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	for i, payload := range stray {
		if err := p.Publish(ctx, &broker.Message{Producer: 9, Seq: uint64(i), Payload: payload}); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	_ = p.Close()
	if err := sw.Produce(ctx); err != nil {
		t.Fatal(err)
	}
	if dr := sw.Drain(ctx, 30*time.Second, 200*time.Millisecond); !dr.Drained {
		t.Fatalf("drain: %s", dr.Reason)
	}
	sw.Close()
	res := sw.Collector().Finalize(checker.Options{Drained: true, Claims: allClaims})
	if c := res.Counts; c.Foreign != 4 || c.Corrupted != 0 || c.Unexpected != 0 || c.Sent == 0 || c.Unique != c.Sent {
		t.Errorf("counts %+v, want 4 foreign and nothing else", c)
	}
	for _, cl := range res.Claims {
		if cl.Verdict != checker.Pass {
			t.Errorf("%s: %s (%s)", cl.Name, cl.Verdict, cl.Summary)
		}
	}
	reasons := map[string]bool{}
	for _, x := range res.Examples["foreign"] {
		reasons[x.Detail] = true
	}
	for _, r := range []checker.Reason{checker.TooShort, checker.BadMagic, checker.OtherRun, checker.UnknownVersion} {
		if !reasons[r.String()] {
			t.Errorf("no foreign evidence says %q: %v", r, reasons)
		}
	}
}

// TestClassify: what package message reports about a payload decides
// between foreign (not an mqcheck message) and corrupted (a damaged one).
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		kind   checker.Kind
		reason checker.Reason
	}{
		{message.ErrTooShort, checker.Foreign, checker.TooShort},
		{message.ErrBadMagic, checker.Foreign, checker.BadMagic},
		{message.ErrVersion, checker.Foreign, checker.UnknownVersion},
		{message.ErrSize, checker.Corrupted, checker.BadSize},
		{message.ErrChecksum, checker.Corrupted, checker.BadChecksum},
		{fmt.Errorf("wrapped: %w", message.ErrBadMagic), checker.Foreign, checker.BadMagic},
	} {
		if k, r := classify(tc.err); k != tc.kind || r != tc.reason {
			t.Errorf("%v: %s (%s), want %s (%s)", tc.err, k, r, tc.kind, tc.reason)
		}
	}
}

// memBroker is a memory broker of cfg, closed at the test's end, and a
// minute's context for the test.
func memBroker(t *testing.T, cfg memory.Config) (*memory.Broker, context.Context) {
	t.Helper()
	b, err := memory.New(cfg, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(func() {
		_ = b.Close(ctx)
		cancel()
	})
	return b, ctx
}
