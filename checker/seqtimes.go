package checker

import (
	"math"
	"slices"
)

// timeStride: one time is kept per 1<<timeStride sequence numbers (a slot),
// so evidence and attribution can say roughly when a message was sent or
// acked without a per-message entry.
const timeStride = 10

// maxSlots bounds one producer's slot times (64 MiB): 2^34 sequence numbers,
// four days at 50k/s. Times past it are not kept; messages there are dated
// from the exact first and last samples.
const maxSlots = 1 << 24

// noTime marks a slot whose time is unknown.
const noTime = math.MinInt32

// sample is an exact (sequence number, time) pair.
type sample struct {
	seq uint64
	at  int64 // unix ns
}

// seqTimes dates the sequence numbers of one producer for one kind of event
// (sent, acked) at 4 bytes per slot: the time of each slot's first sequence
// number, in milliseconds from origin, plus the exact lowest and highest
// samples. A time in between is interpolated from the nearest known ones
// around it, so the last slot (a low-rate run may never leave its first)
// is dated as well as the others.
type seqTimes struct {
	origin int64  // unix ns of the first time seen; slot times count from it
	base   uint64 // slot of at[0]
	at     []int32
	lo, hi sample
	has    bool // lo and hi are set
}

func (t *seqTimes) encode(at int64) int32 {
	ms := (at - t.origin) / 1e6
	if at < t.origin && (at-t.origin)%1e6 != 0 {
		ms-- // floor, so that times before origin round like those after it
	}
	return int32(min(max(ms, noTime+1), math.MaxInt32))
}

func (t *seqTimes) decode(v int32) int64 { return t.origin + int64(v)*1e6 }

// slot returns the index of slot in at, growing at as needed; false when
// the slot is beyond maxSlots from the others.
func (t *seqTimes) slot(slot uint64) (int, bool) {
	if len(t.at) == 0 {
		t.base = slot
		t.at = append(t.at, noTime)
		return 0, true
	}
	if slot < t.base {
		grow := t.base - slot
		if grow+uint64(len(t.at)) > maxSlots {
			return 0, false
		}
		t.at = slices.Insert(t.at, 0, slices.Repeat([]int32{noTime}, int(grow))...)
		t.base = slot
		return 0, true
	}
	i := slot - t.base
	if i >= maxSlots {
		return 0, false
	}
	for uint64(len(t.at)) <= i {
		t.at = append(t.at, noTime)
	}
	return int(i), true
}

// mark records that seq happened exactly at at (unix ns, 0: unknown). A
// slot-aligned seq sets its slot's time; any other only fills a slot whose
// time is still unknown (its first sequence number may never get a time,
// e.g. when it was refused).
func (t *seqTimes) mark(seq uint64, at int64) {
	if at == 0 {
		return
	}
	switch {
	case !t.has:
		if t.origin == 0 {
			t.origin = at
		}
		t.lo, t.hi, t.has = sample{seq, at}, sample{seq, at}, true
	case seq > t.hi.seq: // the usual case: sequence numbers grow
		t.hi = sample{seq, at}
	case seq < t.lo.seq:
		t.lo = sample{seq, at}
	}
	slot := seq >> timeStride
	aligned := seq&(1<<timeStride-1) == 0
	if !aligned && slot >= t.base && slot-t.base < uint64(len(t.at)) && t.at[slot-t.base] != noTime {
		return // the slot has its time already: the hot path of acks
	}
	if i, ok := t.slot(slot); ok && (aligned || t.at[i] == noTime) {
		t.at[i] = t.encode(at)
	}
}

// markEach records that each of first..last happened exactly at at: what
// mark of each would record, without a call per number.
func (t *seqTimes) markEach(first, last uint64, at int64) {
	if at == 0 || last < first {
		return
	}
	t.mark(first, at)
	if last == first {
		return
	}
	// Every slot after first's, up to last's, starts inside the range:
	// its aligned number sets its time, as mark would.
	for s := first>>timeStride + 1; s <= last>>timeStride; s++ {
		if i, ok := t.slot(s); ok {
			t.at[i] = t.encode(at)
		}
		if s == math.MaxUint64>>timeStride {
			break
		}
	}
	t.mark(last, at)
}

// markRange records that first..last happened by at, roughly: it fills the
// slots whose time is still unknown.
func (t *seqTimes) markRange(first, last uint64, at int64) {
	if at == 0 || last < first {
		return
	}
	if t.origin == 0 {
		t.origin = at
	}
	for s := first >> timeStride; s <= last>>timeStride; s++ {
		if i, ok := t.slot(s); ok && t.at[i] == noTime {
			t.at[i] = t.encode(at)
		}
		if s == math.MaxUint64>>timeStride {
			break
		}
	}
}

// slotTime returns the time of slot s, 0 when unknown.
func (t *seqTimes) slotTime(s uint64) int64 {
	if s < t.base || s-t.base >= uint64(len(t.at)) || t.at[s-t.base] == noTime {
		return 0
	}
	return t.decode(t.at[s-t.base])
}

// estimate returns when seq happened (unix ns), interpolated between the
// nearest known times at or below and at or above it; 0 when nothing is
// known.
func (t *seqTimes) estimate(seq uint64) int64 {
	var below, above sample
	var hasBelow, hasAbove bool
	consider := func(s uint64, at int64) {
		if at == 0 {
			return
		}
		if s <= seq && (!hasBelow || s > below.seq) {
			below, hasBelow = sample{s, at}, true
		}
		if s >= seq && (!hasAbove || s < above.seq) {
			above, hasAbove = sample{s, at}, true
		}
	}
	slot := seq >> timeStride
	consider(slot<<timeStride, t.slotTime(slot))
	if slot < math.MaxUint64>>timeStride {
		consider((slot+1)<<timeStride, t.slotTime(slot+1))
	}
	if t.has {
		consider(t.lo.seq, t.lo.at)
		consider(t.hi.seq, t.hi.at)
	}
	switch {
	case hasBelow && hasAbove:
		if above.seq == below.seq || above.at <= below.at {
			return below.at
		}
		frac := float64(seq-below.seq) / float64(above.seq-below.seq)
		return below.at + int64(frac*float64(above.at-below.at))
	case hasBelow:
		return below.at
	case hasAbove:
		return above.at
	}
	return 0
}

func (t *seqTimes) sizeBytes() uint64 { return uint64(4*len(t.at)) + 48 }

// savedTimes is seqTimes on disk.
type savedTimes struct {
	Origin int64
	Base   uint64
	At     []int32
	Lo, Hi [2]int64 // seq (as int64 bits), at
	Has    bool
}

func (t *seqTimes) save() savedTimes {
	return savedTimes{Origin: t.origin, Base: t.base, At: t.at, Has: t.has,
		Lo: [2]int64{int64(t.lo.seq), t.lo.at}, Hi: [2]int64{int64(t.hi.seq), t.hi.at}}
}

// merge folds saved times in: exact samples by the same rules as mark,
// slot times where this side has none.
func (t *seqTimes) merge(s savedTimes) {
	if s.Has {
		t.mark(uint64(s.Lo[0]), s.Lo[1])
		t.mark(uint64(s.Hi[0]), s.Hi[1])
	}
	for i, v := range s.At {
		if v == noTime {
			continue
		}
		at := s.Origin + int64(v)*1e6
		if t.origin == 0 {
			t.origin = at
		}
		if j, ok := t.slot(s.Base + uint64(i)); ok && t.at[j] == noTime {
			t.at[j] = t.encode(at)
		}
	}
}
