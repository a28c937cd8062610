package checker

import (
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
		check := func(what string, s *seqSet, m map[uint64]bool) {
			t.Helper()
			want := slices.Sorted(maps.Keys(m))
			got := slices.Collect(s.All())
			if !slices.Equal(got, want) || s.Cardinality() != uint64(len(want)) || s.IsEmpty() != (len(want) == 0) {
				t.Fatalf("seed %d: %s: %d members %v..., want %d", seed, what, len(got), head(got), len(want))
			}
		}
		check("a", &a, ma)
		check("b", &b, mb)
		diff, both, all := map[uint64]bool{}, map[uint64]bool{}, maps.Clone(ma)
		for x := range ma {
			if mb[x] {
				both[x] = true
			} else {
				diff[x] = true
			}
		}
		maps.Copy(all, mb)
		check("a\\b", andNot(&a, &b), diff)
		check("a∩b", and(&a, &b), both)
		check("a∪b", union(&a, &b), all)
		a.RunOptimize()
		data, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back seqSet
		if err := back.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		check("a after a round trip", &back, ma)
		back.Or(&b)
		check("a|b in place", &back, all)
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
