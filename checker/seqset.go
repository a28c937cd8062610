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
// stays, is a field reached without a lookup, so the hot path costs what a
// plain roaring bitmap does (roaring64 measured 50% slower per Add here);
// a producer past 2^32 messages pays a binary search over a few epochs.
// A seqSet must not be copied once used.
type seqSet struct {
	lo roaring.Bitmap
	hi []epoch // sorted by key, keys >= 1
}

type epoch struct {
	key uint32
	bm  *roaring.Bitmap
}

// bitmap returns the bitmap of epoch key, creating it when create is set
// (else nil when the epoch has none).
func (s *seqSet) bitmap(key uint32, create bool) *roaring.Bitmap {
	if key == 0 {
		return &s.lo
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

// epochs yields every epoch's bitmap in ascending order, the empty ones too.
func (s *seqSet) epochs() iter.Seq2[uint32, *roaring.Bitmap] {
	return func(yield func(uint32, *roaring.Bitmap) bool) {
		if !yield(0, &s.lo) {
			return
		}
		for _, e := range s.hi {
			if !yield(e.key, e.bm) {
				return
			}
		}
	}
}

func (s *seqSet) Add(x uint64) {
	if x>>32 == 0 {
		s.lo.Add(uint32(x))
		return
	}
	s.bitmap(uint32(x>>32), true).Add(uint32(x))
}

// CheckedAdd adds x and says whether it was new.
func (s *seqSet) CheckedAdd(x uint64) bool {
	if x>>32 == 0 {
		return s.lo.CheckedAdd(uint32(x))
	}
	return s.bitmap(uint32(x>>32), true).CheckedAdd(uint32(x))
}

func (s *seqSet) Contains(x uint64) bool {
	if x>>32 == 0 {
		return s.lo.Contains(uint32(x))
	}
	bm := s.bitmap(uint32(x>>32), false)
	return bm != nil && bm.Contains(uint32(x))
}

// AddRange adds first..last, both included (so that a range may end at the
// top of the space).
func (s *seqSet) AddRange(first, last uint64) {
	if last < first {
		return
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
	var n uint64
	for _, bm := range s.epochs() {
		n += bm.GetCardinality()
	}
	return n
}

func (s *seqSet) IsEmpty() bool {
	for _, bm := range s.epochs() {
		if !bm.IsEmpty() {
			return false
		}
	}
	return true
}

// RunOptimize turns runs of consecutive numbers into intervals.
func (s *seqSet) RunOptimize() {
	for _, bm := range s.epochs() {
		bm.RunOptimize()
	}
}

func (s *seqSet) SizeBytes() uint64 {
	n := uint64(16 * len(s.hi))
	for _, bm := range s.epochs() {
		n += bm.GetSizeInBytes()
	}
	return n
}

// All yields the members in ascending order.
func (s *seqSet) All() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		for key, bm := range s.epochs() {
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
		s.lo = *bm
		return
	}
	s.hi = append(s.hi, epoch{key, bm})
}

// Or adds every member of o.
func (s *seqSet) Or(o *seqSet) {
	for key, bm := range o.epochs() {
		if !bm.IsEmpty() {
			s.bitmap(key, true).Or(bm)
		}
	}
}

// andNot returns a \ b.
func andNot(a, b *seqSet) *seqSet {
	r := &seqSet{}
	for key, x := range a.epochs() {
		if y := b.bitmap(key, false); y != nil {
			r.put(key, roaring.AndNot(x, y))
		} else {
			r.put(key, x.Clone())
		}
	}
	return r
}

// and returns a ∩ b.
func and(a, b *seqSet) *seqSet {
	r := &seqSet{}
	for key, x := range a.epochs() {
		if y := b.bitmap(key, false); y != nil {
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
		s.bitmap(key, true).Or(bm)
		data = data[n:]
	}
	return nil
}
