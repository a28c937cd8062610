package checker

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// seqSet is a set of 64-bit numbers (sequence numbers, storage positions):
// one 32-bit roaring bitmap per 2^32 epoch. Epoch 0, where nearly every run
// stays, is reached without a lookup (roaring64 measured 50% slower per Add
// here);
// a producer past 2^32 messages pays a binary search over a few epochs.
// Below that, the members 0..run-1 are a count, not bitmap entries: a
// producer's numbers mostly come in order from 0, and counting them costs
// neither roaring's first container and its growth (10,000 producers of a
// few messages each paid a fifth of their extra CPU a message for those)
// nor its memory. A seqSet must not be copied once used.
type seqSet struct {
	// run: every number below it is a member, none of them in lo. At most
	// 2^32 (the run stays in epoch 0).
	run uint64
	// lo: epoch 0's members from run on; nil until one comes out of
	// order (a set of a few words, 40 bytes, so that 10,000 producers'
	// sets are dense in the cache).
	lo *roaring.Bitmap
	hi []epoch // sorted by key, keys >= 1
}

// loEmpty says whether lo holds nothing.
func (s *seqSet) loEmpty() bool { return s.lo == nil || s.lo.IsEmpty() }

// epoch0End is where epoch 0 and with it the run end.
const epoch0End = 1 << 32

type epoch struct {
	key uint32
	bm  *roaring.Bitmap
}

// bitmap returns the stored bitmap of epoch key, creating it when create is
// set (else nil when the epoch has none). Epoch 0's leaves the run out.
func (s *seqSet) bitmap(key uint32, create bool) *roaring.Bitmap {
	if key == 0 {
		if s.lo == nil && create {
			s.lo = roaring.New()
		}
		return s.lo
	}
	// Sequence numbers grow: the last epoch is the busy one.
	if n := len(s.hi); n > 0 && s.hi[n-1].key == key {
		return s.hi[n-1].bm
	}
	i, found := slices.BinarySearchFunc(s.hi, key, func(e epoch, k uint32) int { return cmp.Compare(e.key, k) })
	if found {
		return s.hi[i].bm
	}
	if !create {
		return nil
	}
	bm := roaring.New()
	s.hi = slices.Insert(s.hi, i, epoch{key, bm})
	return bm
}

// stored yields every stored bitmap in ascending order of epoch, the
// empty ones too; epoch 0's leaves the run out.
func (s *seqSet) stored() iter.Seq2[uint32, *roaring.Bitmap] {
	return func(yield func(uint32, *roaring.Bitmap) bool) {
		if s.lo != nil && !yield(0, s.lo) {
			return
		}
		for _, e := range s.hi {
			if !yield(e.key, e.bm) {
				return
			}
		}
	}
}

// view returns every member of epoch key as a bitmap only to be read (nil
// when the epoch has none): epoch 0's is a new one when the run holds any.
func (s *seqSet) view(key uint32) *roaring.Bitmap {
	if key != 0 || s.run == 0 {
		return s.bitmap(key, false)
	}
	var bm *roaring.Bitmap
	if s.lo != nil {
		bm = s.lo.Clone()
	} else {
		bm = roaring.New()
	}
	bm.AddRange(0, s.run)
	return bm
}

// epochs yields every epoch's members as a bitmap only to be read, in
// ascending order, some empty ones too.
func (s *seqSet) epochs() iter.Seq2[uint32, *roaring.Bitmap] {
	return func(yield func(uint32, *roaring.Bitmap) bool) {
		if bm := s.view(0); bm != nil && !yield(0, bm) {
			return
		}
		for _, e := range s.hi {
			if !yield(e.key, e.bm) {
				return
			}
		}
	}
}

// absorb moves the members of lo that continue the run into it.
func (s *seqSet) absorb() {
	// lo holds nothing below the run, so it continues the run when it
	// holds the run's number (Contains, not Minimum: a bitmap container
	// emptied at its front by the run scans its words for the least).
	if s.run >= epoch0End || s.loEmpty() || !s.lo.Contains(uint32(s.run)) {
		return
	}
	// A few steps cover what came out of order; a long stretch (a gap
	// filled under a range sent past it) is found by bisection: lo holds
	// nothing below run, so run..v are all members when v-run+1 of lo's
	// members are at most v.
	end := s.run + 1
	for i := 0; i < 16 && end < epoch0End && s.lo.Contains(uint32(end)); i++ {
		end++
	}
	if end < epoch0End && s.lo.Contains(uint32(end)) {
		lo, hi := end, uint64(s.lo.Maximum())
		for lo < hi {
			mid := lo + (hi-lo+1)/2
			if s.lo.Rank(uint32(mid)) == mid-s.run+1 {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		end = lo + 1
	}
	s.lo.RemoveRange(s.run, end)
	s.run = end
}

func (s *seqSet) Add(x uint64) { s.CheckedAdd(x) }

// CheckedAdd adds x and says whether it was new.
func (s *seqSet) CheckedAdd(x uint64) bool {
	switch {
	case x < s.run:
		return false
	case x == s.run && x < epoch0End:
		// The usual case: the next number in order. lo never holds the
		// run's next number (absorb), so x is new; what lo holds from the
		// new run on joins it. A producer's numbers spread over
		// partitions come in interleaved stretches: the stretch the run
		// follows costs this check, the others a bitmap add each.
		s.run++
		if s.lo != nil {
			s.absorb()
		}
		return true
	case x < epoch0End:
		// Above the run: it stays out of lo.
		return s.bitmap(0, true).CheckedAdd(uint32(x))
	}
	return s.bitmap(uint32(x>>32), true).CheckedAdd(uint32(x))
}

func (s *seqSet) Contains(x uint64) bool {
	if x < s.run {
		return true
	}
	if x>>32 == 0 {
		return s.lo != nil && s.lo.Contains(uint32(x))
	}
	bm := s.bitmap(uint32(x>>32), false)
	return bm != nil && bm.Contains(uint32(x))
}

// AddRange adds first..last, both included (so that a range may end at the
// top of the space).
func (s *seqSet) AddRange(first, last uint64) {
	if last < first || last < s.run {
		return
	}
	first = max(first, s.run)
	if first == s.run && first < epoch0End {
		end := min(last, epoch0End-1) + 1
		if !s.loEmpty() {
			s.lo.RemoveRange(first, end)
		}
		s.run = end
		s.absorb()
		if last < end {
			return
		}
		first = end
	}
	for e := first >> 32; e <= last>>32; e++ {
		lo, hi := max(first, e<<32), min(last, e<<32|0xffffffff)
		s.bitmap(uint32(e), true).AddRange(uint64(uint32(lo)), uint64(uint32(hi))+1)
		if e == 0xffffffff {
			break
		}
	}
}

func (s *seqSet) Cardinality() uint64 {
	n := s.run
	for _, bm := range s.stored() {
		n += bm.GetCardinality()
	}
	return n
}

func (s *seqSet) IsEmpty() bool {
	if s.run > 0 {
		return false
	}
	for _, bm := range s.stored() {
		if !bm.IsEmpty() {
			return false
		}
	}
	return true
}

// RunOptimize turns runs of consecutive numbers into intervals.
func (s *seqSet) RunOptimize() {
	for _, bm := range s.stored() {
		bm.RunOptimize()
	}
}

func (s *seqSet) SizeBytes() uint64 {
	n := uint64(16*len(s.hi)) + 8
	for _, bm := range s.stored() {
		n += bm.GetSizeInBytes()
	}
	return n
}

// All yields the members in ascending order.
func (s *seqSet) All() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		for x := range s.run {
			if !yield(x) {
				return
			}
		}
		for key, bm := range s.stored() {
			it := bm.Iterator()
			for it.HasNext() {
				if !yield(uint64(key)<<32 | uint64(it.Next())) {
					return
				}
			}
		}
	}
}

// put makes bm the bitmap of epoch key in a set being built; bm must not be
// used elsewhere.
func (s *seqSet) put(key uint32, bm *roaring.Bitmap) {
	if bm.IsEmpty() {
		return
	}
	if key == 0 {
		s.lo = bm
		s.absorb()
		return
	}
	s.hi = append(s.hi, epoch{key, bm})
}

// Or adds every member of o.
func (s *seqSet) Or(o *seqSet) {
	if o.run > 0 {
		s.AddRange(0, o.run-1)
	}
	for key, bm := range o.stored() {
		s.orEpoch(key, bm)
	}
}

// orEpoch adds bm's members to epoch key.
func (s *seqSet) orEpoch(key uint32, bm *roaring.Bitmap) {
	if bm.IsEmpty() {
		return
	}
	s.bitmap(key, true).Or(bm)
	if key == 0 {
		s.lo.RemoveRange(0, s.run)
		s.absorb()
	}
}

// andNot returns a \ b.
func andNot(a, b *seqSet) *seqSet {
	r := &seqSet{}
	for key, x := range a.epochs() {
		if y := b.view(key); y != nil {
			r.put(key, roaring.AndNot(x, y))
		} else {
			r.put(key, x.Clone())
		}
	}
	return r
}

// andNotCount is the number of members of a \ b, found without building
// it when a is a run alone and b's epoch 0 is too (the drain asks it of
// every producer ten times a second).
func andNotCount(a, b *seqSet) uint64 {
	if a.loEmpty() && len(a.hi) == 0 && b.loEmpty() {
		return a.run - min(a.run, b.run)
	}
	return andNot(a, b).Cardinality()
}

// and returns a ∩ b.
func and(a, b *seqSet) *seqSet {
	r := &seqSet{}
	for key, x := range a.epochs() {
		if y := b.view(key); y != nil {
			r.put(key, roaring.And(x, y))
		}
	}
	return r
}

// union returns the union of sets.
func union(sets ...*seqSet) *seqSet {
	byKey := map[uint32][]*roaring.Bitmap{}
	var keys []uint32
	for _, s := range sets {
		for key, bm := range s.epochs() {
			if bm.IsEmpty() {
				continue
			}
			if _, ok := byKey[key]; !ok {
				keys = append(keys, key)
			}
			byKey[key] = append(byKey[key], bm)
		}
	}
	slices.Sort(keys)
	r := &seqSet{}
	for _, key := range keys {
		r.put(key, roaring.FastOr(byKey[key]...))
	}
	return r
}

// MarshalBinary writes each non-empty epoch as its key (4 bytes), the
// length of its bitmap (4 bytes) and the bitmap in roaring's portable
// format.
func (s *seqSet) MarshalBinary() ([]byte, error) {
	var out []byte
	for key, bm := range s.epochs() {
		if bm.IsEmpty() {
			continue
		}
		b, err := bm.ToBytes()
		if err != nil {
			return nil, fmt.Errorf("epoch %d: %w", key, err)
		}
		out = binary.BigEndian.AppendUint32(out, key)
		out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out, nil
}

var errSetFormat = errors.New("malformed sequence set")

// UnmarshalBinary adds the members written by MarshalBinary.
func (s *seqSet) UnmarshalBinary(data []byte) error {
	prev := int64(-1)
	for len(data) > 0 {
		if len(data) < 8 {
			return errSetFormat
		}
		key, n := binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])
		data = data[8:]
		if int64(key) <= prev || uint64(n) > uint64(len(data)) {
			return errSetFormat
		}
		prev = int64(key)
		bm := roaring.New()
		if err := bm.UnmarshalBinary(data[:n]); err != nil {
			return fmt.Errorf("%w: epoch %d: %w", errSetFormat, key, err)
		}
		// roaring reads some inconsistent containers (a run past its
		// end) that its iterators then panic on.
		if err := bm.Validate(); err != nil {
			return fmt.Errorf("%w: epoch %d: %w", errSetFormat, key, err)
		}
		s.orEpoch(key, bm)
		data = data[n:]
	}
	return nil
}
