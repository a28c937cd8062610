package chaos

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mqcheck/mqcheck/scenarios"
)

// Occurrence is one fault of the resolved schedule.
type Occurrence struct {
	Index   int // of the scenario's faults entry
	N, Of   int // its number (from 1) among the entry's occurrences, and how many
	At, For time.Duration
	Fault   scenarios.Fault
	// Seed for the random choices of this occurrence (jitter, which node
	// gets a leader): drawn from the run's seed, the entry and N, so that
	// adding an entry leaves the others' choices alone.
	Seed uint64
}

// Describe says where the occurrence comes from in the scenario.
func (o Occurrence) Describe(runSeed int64) string {
	f := o.Fault
	where := fmt.Sprintf("faults.%d", o.Index)
	switch {
	case f.Random != nil:
		return fmt.Sprintf("%s: random (seed %d) between %s and %s, %d of %d", where, runSeed, f.Random.From, f.Random.To, o.N, o.Of)
	case f.Every > 0:
		return fmt.Sprintf("%s: every %s from %s, %d of %d", where, f.Every, f.At, o.N, o.Of)
	}
	return fmt.Sprintf("%s: at %s", where, f.At)
}

// Schedule resolves the scenario's fault entries into occurrences, sorted
// by start (then by entry):
//   - at: once, At after the load starts;
//   - every: at At, At+Every, ... while the start is before the end of the
//     load (load); with load 0, once;
//   - random: Count starts drawn with seed in [From, To] (To 0: the end of
//     the load), to the millisecond, so that none overlaps another of the
//     entry: the free time (To-From-Count*For) is split at Count uniform
//     points, and each fault starts after the previous one's end plus its
//     share. The same seed, entries and load give the same schedule.
func Schedule(faults []scenarios.Fault, seed int64, load time.Duration) []Occurrence {
	var out []Occurrence
	for i, f := range faults {
		var starts []time.Duration
		switch {
		case f.Random != nil:
			starts = randomStarts(f, i, seed, load)
			if f.Random.To == 0 {
				// Reported with the end it resolved to.
				r := *f.Random
				r.To = scenarios.Duration(load)
				f.Random = &r
			}
		case f.Every > 0 && load > 0:
			for at := f.At.D(); at < load; at += f.Every.D() {
				starts = append(starts, at)
			}
		default:
			starts = []time.Duration{f.At.D()}
		}
		for n, at := range starts {
			out = append(out, Occurrence{Index: i, N: n + 1, Of: len(starts), At: at, For: f.For.D(), Fault: f,
				Seed: mix(uint64(seed), uint64(i)<<32|uint64(n+1))})
		}
	}
	slices.SortStableFunc(out, func(a, b Occurrence) int {
		if c := cmp.Compare(a.At, b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
	return out
}

func randomStarts(f scenarios.Fault, index int, seed int64, load time.Duration) []time.Duration {
	r := f.Random
	from, to := r.From.D(), r.To.D()
	if to == 0 {
		to = load
	}
	n := max(r.Count, 0)
	slack := to - from - time.Duration(n)*f.For.D()
	if n == 0 || slack < 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(index)))
	points := make([]time.Duration, n)
	for i := range points {
		points[i] = time.Duration(rng.Int64N(int64(slack/time.Millisecond)+1)) * time.Millisecond
	}
	slices.Sort(points)
	starts := make([]time.Duration, n)
	for i, p := range points {
		starts[i] = from + p + time.Duration(i)*f.For.D()
	}
	return starts
}

// mix is splitmix64 of a combined with b: independent seeds from related
// inputs.
func mix(a, b uint64) uint64 {
	z := a ^ (b + 0x9e3779b97f4a7c15)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
