package swarm

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/message"
)

// fixedClock reads one time.
type fixedClock int64

func (c fixedClock) Now() int64        { return int64(c) }
func (c fixedClock) NewWaiter() Waiter { return c }
func (c fixedClock) Until(context.Context, int64, <-chan struct{}, <-chan struct{}) Wake {
	return Reached
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
