package checker

import "time"

// LostBucket is the width by which a run and a merge date lost messages by
// ack time, to blame them on the fault spans around (BlameLost): one
// value, so that a merged run blames as one process would.
const LostBucket = 100 * time.Millisecond

// MissingByTime counts the (subscription, message) pairs that were acked and
// not received, by when they were sent (of = Sent) or acked (of = Acked):
// bucket i holds those in [origin + i*width, origin + (i+1)*width) (unix
// nanoseconds); earlier ones count in bucket 0, later ones in bucket n-1.
// Times are interpolated between the ones the checker keeps (every 1024th
// message's and each producer's first and last, as for evidence), so a
// message near a bucket's edge may count in its neighbour. undated counts
// those with no known time. Like Finalize it reads the state without
// changing it; memory is the n buckets.
//
// By ack time, a run can blame a loss on what destroyed an acked message:
// the fault that came after the broker confirmed it, also when the
// message was sent long before (a backlog lost in a kill).
func (c *Checker) MissingByTime(of Kind, origin, width int64, n int) (buckets []uint64, undated uint64) {
	if n <= 0 || width <= 0 || (of != Sent && of != Acked) {
		return nil, 0
	}
	buckets = make([]uint64, n)
	nsubs := max(len(c.subs), len(c.names.Subs()))
	for id, p := range c.producers {
		if p == nil {
			continue
		}
		times := &p.sentAt
		if of == Acked {
			times = &p.ackedAt
		}
		for sub := 0; sub < nsubs; sub++ {
			for seq := range andNot(&p.acked, c.accounted(sub, id)).All() {
				at := times.estimate(seq)
				if at == 0 {
					undated++
					continue
				}
				i := (at - origin) / width
				switch {
				case at < origin:
					i = 0
				case i >= int64(n):
					i = int64(n) - 1
				}
				buckets[i]++
			}
		}
	}
	return buckets, undated
}

// Attribution of lost messages to fault spans ([from, to) pairs, in the
// buckets' unit), for a run and for the merge of a split run's workers.

// BlameLost sums lost[b] (messages acked in [b*bucket, (b+1)*bucket)) per
// span: a bucket counts for every span it touches, or, touching none, for
// the first span that starts after it.
func BlameLost(spans [][2]int64, lost []uint64, bucket int64) []uint64 {
	out := make([]uint64, len(spans))
	for b, n := range lost {
		if n == 0 {
			continue
		}
		for _, i := range Blame(spans, int64(b)*bucket, int64(b+1)*bucket) {
			out[i] += n
		}
	}
	return out
}

// Blame returns the spans [from, to) touches, or, when it touches none, the
// first span that starts at or after to.
func Blame(spans [][2]int64, from, to int64) []int {
	var hit []int
	next := -1
	for i, s := range spans {
		switch {
		case from < s[1] && to > s[0], from == to && from >= s[0] && from <= s[1]:
			hit = append(hit, i)
		case s[0] >= to && (next < 0 || s[0] < spans[next][0]):
			next = i
		}
	}
	if len(hit) == 0 && next >= 0 {
		hit = append(hit, next)
	}
	return hit
}
