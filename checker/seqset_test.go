package checker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSeqSetAgainstMap: every operation of seqSet agrees with a plain map
// on numbers clustered around epoch edges (0, 2^32, 2^33, the top).
func TestSeqSetAgainstMap(t *testing.T) {
	edges := []uint64{0, 1<<32 - 40, 1<<33 - 40, 5 << 40, ^uint64(0) - 80}
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		draw := func() uint64 { return edges[rng.IntN(len(edges))] + rng.Uint64N(80) }
		var a, b seqSet
		ma, mb := map[uint64]bool{}, map[uint64]bool{}
		for range 300 {
			x := draw()
			switch rng.IntN(4) {
			case 0:
				if a.CheckedAdd(x) == ma[x] {
					t.Fatalf("seed %d: CheckedAdd(%d) disagrees", seed, x)
				}
				ma[x] = true
			case 1:
				b.Add(x)
				mb[x] = true
			case 2:
				last := x + rng.Uint64N(60)
				if last < x {
					last = ^uint64(0)
				}
				a.AddRange(x, last)
				for v := x; ; v++ {
					ma[v] = true
					if v == last {
						break
					}
				}
			case 3:
				if a.Contains(x) != ma[x] {
					t.Fatalf("seed %d: Contains(%d) disagrees", seed, x)
				}
			}
		}
		checkSetsAgree(t, fmt.Sprint("seed ", seed), &a, &b, ma, mb)
	}
}

func head(xs []uint64) []uint64 { return xs[:min(len(xs), 5)] }

func TestSeqSetRejectsGarbage(t *testing.T) {
	var s seqSet
	s.Add(1 << 40)
	data, _ := s.MarshalBinary()
	for _, bad := range [][]byte{{1, 2, 3}, data[:len(data)-1], append(append([]byte{}, data...), data...)} {
		var x seqSet
		if err := x.UnmarshalBinary(bad); err == nil {
			t.Errorf("accepted % x", bad)
		}
	}
}

// TestSeqSetRunAgainstMap: numbers mostly in order from 0, some out of
// order, repeated or far ahead, so that the run (the members below it kept
// as a count) grows, stalls at gaps and takes in what lo held once a gap
// fills; every operation agrees with a plain map.
func TestSeqSetRunAgainstMap(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		a, b, ma, mb := runOps(rng, 400)
		checkSetsAgree(t, fmt.Sprint("seed ", seed), a, b, ma, mb)
	}
}

// FuzzSeqSet drives two sets with the operations the fuzzer's bytes name.
func FuzzSeqSet(f *testing.F) {
	f.Add(uint64(1), uint16(300))
	f.Add(uint64(7), uint16(40))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16) {
		a, b, ma, mb := runOps(rand.New(rand.NewPCG(seed, 13)), int(n%2000))
		checkSetsAgree(t, fmt.Sprint("seed ", seed), a, b, ma, mb)
	})
}

// runOps applies n random operations to two sets and their maps: mostly
// the next number in order, then near misses, repeats, ranges, numbers far
// ahead (a gap that fills later) and the top of epoch 0.
func runOps(rng *rand.Rand, n int) (a, b *seqSet, ma, mb map[uint64]bool) {
	a, b, ma, mb = &seqSet{}, &seqSet{}, map[uint64]bool{}, map[uint64]bool{}
	var nextA, nextB uint64
	addRange := func(s *seqSet, m map[uint64]bool, first, last uint64) {
		s.AddRange(first, last)
		for v := first; ; v++ {
			m[v] = true
			if v == last {
				break
			}
		}
	}
	for range n {
		s, m, next := a, ma, &nextA
		if rng.IntN(3) == 0 {
			s, m, next = b, mb, &nextB
		}
		var x uint64
		switch r := rng.IntN(20); {
		case r < 10:
			x = *next
			*next++
		case r < 13:
			x = *next + rng.Uint64N(5) // ahead by a little: a gap
		case r < 15:
			x = rng.Uint64N(*next + 1) // a repeat
		case r < 16:
			x = *next + 100 + rng.Uint64N(3000) // far ahead
		case r < 17:
			first := rng.Uint64N(*next + 50)
			last := first + rng.Uint64N(200)
			addRange(s, m, first, last)
			*next = max(*next, last+1)
			continue
		case r < 18:
			x = epoch0End - 3 + rng.Uint64N(6) // either side of epoch 0's end
		default:
			x = *next + 1
		}
		if s.CheckedAdd(x) == m[x] {
			panic(fmt.Sprintf("CheckedAdd(%d) disagrees (run %d)", x, s.run))
		}
		m[x] = true
		// The invariant CheckedAdd trusts: lo holds nothing up to the run.
		if !s.loEmpty() && uint64(s.lo.Minimum()) <= s.run {
			panic(fmt.Sprintf("after %d: lo's least member %d, run %d", x, s.lo.Minimum(), s.run))
		}
	}
	return a, b, ma, mb
}

// checkSetsAgree compares two sets with their maps, through every
// operation, and their invariant: lo holds nothing below the run, nor the
// run's next number.
func checkSetsAgree(t *testing.T, name string, a, b *seqSet, ma, mb map[uint64]bool) {
	t.Helper()
	check := func(what string, s *seqSet, m map[uint64]bool) {
		t.Helper()
		want := slices.Sorted(maps.Keys(m))
		got := slices.Collect(s.All())
		if !slices.Equal(got, want) || s.Cardinality() != uint64(len(want)) || s.IsEmpty() != (len(want) == 0) {
			t.Fatalf("%s: %s: %d members %v..., want %d %v...", name, what, len(got), head(got), len(want), head(want))
		}
		for x := range uint64(len(want) + 5) {
			if s.Contains(x) != m[x] {
				t.Fatalf("%s: %s: Contains(%d) = %v", name, what, x, !m[x])
			}
		}
		if !s.loEmpty() && (uint64(s.lo.Minimum()) <= s.run) {
			t.Fatalf("%s: %s: lo's least member %d, run %d: want above the run", name, what, s.lo.Minimum(), s.run)
		}
	}
	check("a", a, ma)
	check("b", b, mb)
	diff, both, all := map[uint64]bool{}, map[uint64]bool{}, maps.Clone(ma)
	for x := range ma {
		if mb[x] {
			both[x] = true
		} else {
			diff[x] = true
		}
	}
	maps.Copy(all, mb)
	check("a\\b", andNot(a, b), diff)
	if n := andNotCount(a, b); n != uint64(len(diff)) {
		t.Fatalf("%s: andNotCount %d, want %d", name, n, len(diff))
	}
	check("a∩b", and(a, b), both)
	check("a∪b", union(a, b), all)
	data, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back seqSet
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	check("a after a round trip", &back, ma)
	back.Or(b)
	check("a|b in place", &back, all)
	a.RunOptimize()
	check("a run-optimized", a, ma)
}

// FuzzSeqSetUnmarshal: any bytes are refused or read into a set that
// writes and reads back to the same members, without a panic.
func FuzzSeqSetUnmarshal(f *testing.F) {
	a, b, _, _ := runOps(rand.New(rand.NewPCG(3, 3)), 300)
	for _, s := range []*seqSet{a, b} {
		data, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s seqSet
		if s.UnmarshalBinary(data) != nil {
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back seqSet
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-reading what it wrote: %v", err)
		}
		if s.Cardinality() != back.Cardinality() || !slices.Equal(slices.Collect(s.All()), slices.Collect(back.All())) {
			t.Fatalf("%d members, %d after a round trip", s.Cardinality(), back.Cardinality())
		}
	})
}
