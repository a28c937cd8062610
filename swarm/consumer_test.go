package swarm

import (
	"context"
	"errors"
	"testing"
	"time"

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
			cfg := &Config{RunID: runID, FailFraction: 0.999999, FailDeadLetter: tt.deadLetter, Clock: monoClock{}}
			c, err := newConsumer(context.Background(), 0, 0, cfg, fakeDriver{}, col, names, nil, &procStats{})
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

// fixedClock reads one time.
type fixedClock int64

func (c fixedClock) Now() int64        { return int64(c) }
func (c fixedClock) NewWaiter() Waiter { return c }
func (c fixedClock) Until(context.Context, int64, <-chan struct{}, <-chan struct{}) (Wake, int64) {
	return Reached, int64(c)
}

// TestNegativeEndToEndIsCounted: a receipt dated before its intended send
// time (a header written on a clock ahead of the consumer's) is counted as
// negative and kept out of the end-to-end histogram, never clamped into it
// as the smallest latency.
func TestNegativeEndToEndIsCounted(t *testing.T) {
	const now = int64(1_700_000_000) * int64(time.Second)
	names := checker.NewNames("sub-0")
	col := NewCollector(checker.New(names))
	defer col.Close()
	c := &consumer{runID: 7, col: col, clock: fixedClock(now), names: names, b: col.getBatch(), domains: map[string]uint32{}}
	enc, err := message.NewEncoder(7, 0, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := enc.NewBuffer()
	for seq, intended := range []int64{now + int64(time.Second), now - 5*int64(time.Millisecond)} {
		enc.Encode(buf, uint64(seq), intended, intended)
		if err := c.handle(&broker.Delivery{Payload: buf, Domain: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	c.flush()
	tot, lat := col.Totals(), col.Latency()
	if tot.Received != 2 || tot.Negative != 1 {
		t.Fatalf("received %d, negative %d; want 2 and 1", tot.Received, tot.Negative)
	}
	if h := lat[EndToEnd]; h.TotalCount() != 1 || h.Max() < 4990 || h.Max() > 5010 {
		t.Errorf("end-to-end: %d samples, max %dµs; want the 5ms one alone", h.TotalCount(), h.Max())
	}
}

// steppingClock reads 1 ms later each time it is read.
type steppingClock struct{ now, reads *int64 }

func (c steppingClock) Now() int64 {
	*c.reads++
	*c.now += int64(time.Millisecond)
	return *c.now
}
func (c steppingClock) NewWaiter() Waiter { return c }
func (c steppingClock) Until(context.Context, int64, <-chan struct{}, <-chan struct{}) (Wake, int64) {
	return Reached, *c.now
}

// TestOneClockReadPerFetch: deliveries a driver marks as coming in the
// same answer of the broker (SameFetch) are dated with the clock reading
// of the first of that answer; every other delivery reads the clock.
func TestOneClockReadPerFetch(t *testing.T) {
	for _, tt := range []struct {
		name      string
		same      []bool // SameFetch of each delivery
		wantReads int64
		wantMax   int64 // largest end-to-end latency, µs: one per reading
	}{
		{"one fetch", []bool{false, true, true, true}, 1, 1000},
		{"two fetches", []bool{false, true, false, true, true}, 2, 2000},
		{"no driver hint", []bool{false, false, false}, 3, 3000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			names := checker.NewNames("sub-0")
			col := NewCollector(checker.New(names))
			defer col.Close()
			var now, reads int64
			c := &consumer{runID: 7, col: col, clock: steppingClock{&now, &reads}, names: names, b: col.getBatch(), domains: map[string]uint32{}}
			enc, err := message.NewEncoder(7, 0, 100, 1)
			if err != nil {
				t.Fatal(err)
			}
			buf := enc.NewBuffer()
			for seq, same := range tt.same {
				enc.Encode(buf, uint64(seq), 0, 0) // sent at 0: latency is the receipt time
				if err := c.handle(&broker.Delivery{Payload: buf, Domain: "d", SameFetch: same}); err != nil {
					t.Fatal(err)
				}
			}
			c.flush()
			if reads != tt.wantReads {
				t.Errorf("%d clock reads for %d deliveries, want %d", reads, len(tt.same), tt.wantReads)
			}
			h := col.Latency()[EndToEnd]
			if h.TotalCount() != int64(len(tt.same)) || h.Max() < tt.wantMax-1 || h.Max() > tt.wantMax+1 {
				t.Errorf("end-to-end: %d samples, max %dµs; want %d, max %dµs", h.TotalCount(), h.Max(), len(tt.same), tt.wantMax)
			}
		})
	}
}
