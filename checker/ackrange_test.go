package checker

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestAckRangesAreEachAck: an Acked event with a Count is what an Acked
// event for each of its numbers at its time would be: the same acked sets,
// the same ack times (slots and exact samples), the same results. Acks come
// in chunks of random sizes and order, across slot boundaries and the 2^32
// epoch boundary, some of them twice; a third of the numbers are received.
func TestAckRangesAreEachAck(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		type chunk struct {
			producer    uint32
			first, last uint64
			at          int64
		}
		var chunks []chunk
		var received []Event
		for p := uint32(0); p < 3; p++ {
			base := []uint64{0, 1<<32 - 3000, uint64(rng.IntN(5000))}[p]
			n := uint64(1 + rng.IntN(6000))
			for s := base; s < base+n; {
				size := uint64(1 + rng.IntN(700))
				if rng.IntN(8) == 0 {
					size = 1
				}
				last := min(s+size-1, base+n-1)
				chunks = append(chunks, chunk{p, s, last, int64(1e12) + int64(rng.IntN(5e9))})
				if rng.IntN(10) == 0 { // acked again
					chunks = append(chunks, chunk{p, s, last, int64(1e12) + int64(rng.IntN(5e9))})
				}
				for x := s; x <= last; x++ {
					if rng.IntN(3) == 0 {
						received = append(received, Event{Kind: Received, Producer: p, Seq: x, At: int64(2e12)})
					}
				}
				s = last + 1
			}
		}
		rng.Shuffle(len(chunks), func(i, j int) { chunks[i], chunks[j] = chunks[j], chunks[i] })
		var singles, ranges []Event
		for _, c := range chunks {
			for x := c.first; x <= c.last; x++ {
				singles = append(singles, Event{Kind: Acked, Producer: c.producer, Seq: x, At: c.at})
			}
			ranges = append(ranges, Event{Kind: Acked, Producer: c.producer, Seq: c.first, Count: uint32(c.last - c.first + 1), At: c.at})
		}
		a, b := New(NewNames("s0")), New(NewNames("s0"))
		a.Apply(singles)
		b.Apply(ranges)
		a.Apply(received)
		b.Apply(received)
		for p := range a.producers {
			pa, pb := a.producers[p], b.producers[p]
			if !reflect.DeepEqual(pa.ackedAt, pb.ackedAt) {
				t.Fatalf("seed %d producer %d: ack times from ranges\n%+v\nwant, as from each ack,\n%+v", seed, p, pb.ackedAt, pa.ackedAt)
			}
			if pa.acked.Cardinality() != pb.acked.Cardinality() {
				t.Fatalf("seed %d producer %d: %d acked from ranges, %d from each ack", seed, p, pb.acked.Cardinality(), pa.acked.Cardinality())
			}
			for k, bm := range pa.acked.epochs() {
				if other := pb.acked.view(k); other == nil || !bm.Equals(other) {
					t.Fatalf("seed %d producer %d: epoch %d's acked numbers differ", seed, p, k)
				}
			}
		}
		ra := a.Finalize(Options{Drained: true, Claims: allClaims})
		rb := b.Finalize(Options{Drained: true, Claims: allClaims})
		if !reflect.DeepEqual(ra, rb) {
			t.Fatalf("seed %d: results from ranges\n%+v\nwant, as from each ack,\n%+v", seed, rb, ra)
		}
		if ra.Counts.Lost == 0 {
			t.Fatalf("seed %d: nothing lost: the comparison would miss the dating of lost messages", seed)
		}
	}
}
