package checker

import "github.com/RoaringBitmap/roaring/v2"

// MissingBySendTime counts the (subscription, message) pairs that were
// acked and not received, by when they were sent: bucket i holds those
// sent in [origin + i*width, origin + (i+1)*width) (unix nanoseconds);
// earlier sends count in bucket 0, later ones in bucket n-1. Send times
// are interpolated between the ones the checker keeps for every 1024th
// message (as for evidence), so a message sent near a bucket's edge may
// count in its neighbour. undated counts those with no known send time.
// Like Finalize it reads the state without changing it; memory is the n
// buckets.
func (c *Checker) MissingBySendTime(origin, width int64, n int) (buckets []uint64, undated uint64) {
	if n <= 0 || width <= 0 {
		return nil, 0
	}
	buckets = make([]uint64, n)
	nsubs := max(len(c.subs), len(c.names.Subs()))
	for id, p := range c.producers {
		if p == nil {
			continue
		}
		for sub := 0; sub < nsubs; sub++ {
			missing := roaring.AndNot(&p.acked, c.accounted(sub, id))
			it := missing.Iterator()
			for it.HasNext() {
				at := approxSentAt(p.sentAt, uint64(it.Next()))
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
