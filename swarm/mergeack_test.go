package swarm

import (
	"math"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
)

// TestMergeAck: an ack joins the batch's last event only when that event
// acks the numbers just below it, for the same producer and transaction,
// at most ackMergeWithin earlier; anything else is an event of its own.
func TestMergeAck(t *testing.T) {
	const ms = int64(1e6)
	ack := func(p uint32, seq uint64, count uint32, txn uint32, at int64) checker.Event {
		return checker.Event{Kind: checker.Acked, Producer: p, Seq: seq, Count: count, Txn: txn, At: at}
	}
	tests := []struct {
		name  string
		last  checker.Event
		p     uint32
		seq   uint64
		txn   uint32
		now   int64
		merge bool
		want  uint32 // the last event's Count after
	}{
		{"next number", ack(1, 10, 0, 0, 5*ms), 1, 11, 0, 5 * ms, true, 2},
		{"next after a range", ack(1, 10, 5, 0, 5*ms), 1, 15, 0, 6 * ms, true, 6},
		{"a gap", ack(1, 10, 5, 0, 5*ms), 1, 16, 0, 5 * ms, false, 5},
		{"a number already in", ack(1, 10, 5, 0, 5*ms), 1, 14, 0, 5 * ms, false, 5},
		{"another producer", ack(1, 10, 0, 0, 5*ms), 2, 11, 0, 5 * ms, false, 0},
		{"another transaction", ack(1, 10, 0, 3, 5*ms), 1, 11, 4, 5 * ms, false, 0},
		{"too late", ack(1, 10, 0, 0, 5*ms), 1, 11, 0, 6*ms + 1, false, 0},
		{"dated before it", ack(1, 10, 0, 0, 5*ms), 1, 11, 0, 5*ms - 1, false, 0},
		{"not an ack", checker.Event{Kind: checker.Indeterminate, Producer: 1, Seq: 10, At: 5 * ms}, 1, 11, 0, 5 * ms, false, 0},
		{"a full range", ack(1, 10, math.MaxUint32, 0, 5*ms), 1, 10 + math.MaxUint32, 0, 5 * ms, false, math.MaxUint32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &batch{events: []checker.Event{tt.last}}
			got := b.mergeAck(tt.p, tt.seq, tt.txn, tt.now)
			if got != tt.merge || b.events[0].Count != tt.want || b.merged != map[bool]int{true: 1}[tt.merge] {
				t.Errorf("merged %v (count %d, %d merged), want %v (count %d)", got, b.events[0].Count, b.merged, tt.merge, tt.want)
			}
			if b.events[0].At != tt.last.At || len(b.events) != 1 {
				t.Errorf("the event became %+v: its time and the events must stay", b.events)
			}
		})
	}
	if (&batch{}).mergeAck(1, 0, 0, 0) {
		t.Error("an empty batch merged an ack")
	}
}
