package swarm

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Pacer is a load's schedule: when each send of the load is due. It is a
// pure function of the send's number, apart from the loop that sends
// (vegeta's Pacer asks "how long until the next hit"; this one answers
// "when was hit n due", because latency counts from that intended time,
// however late the send). Hits are numbered across all producers: with P
// producers, producer i makes hits i, i+P, i+2P, ...
type Pacer interface {
	// Due returns when hit n (from 0) is due, from the start of the load;
	// false when the load ends before it.
	Due(n uint64) (time.Duration, bool)
	// Hits is how many hits are due before elapsed (Due(n) < elapsed).
	Hits(elapsed time.Duration) uint64
	// Rate is the intended rate at elapsed, in hits per second.
	Rate(elapsed time.Duration) float64
	// Length is the length of the load.
	Length() time.Duration
}

// Pace is the question a sending loop asks, as vegeta's Pacer answers it:
// given the time since the load started and the hits made so far, how
// long to wait for the next one (0: it is due or late), or stop: the load
// has no more.
func Pace(p Pacer, elapsed time.Duration, hits uint64) (wait time.Duration, stop bool) {
	due, ok := p.Due(hits)
	if !ok {
		return 0, true
	}
	return max(0, due-elapsed), false
}

// Stage is one part of a load shape: Rate (hits per second) for For. Over
// its first Ramp the rate moves in a straight line from the previous
// stage's rate (0 before the first stage) to Rate; Ramp 0 is a step.
type Stage struct {
	Rate float64
	For  time.Duration
	Ramp time.Duration
}

// Constant is the pacer of a fixed rate (hits per second) for length.
func Constant(rate float64, length time.Duration) Pacer {
	p, err := Stages([]Stage{{Rate: rate, For: length}})
	if err != nil {
		// Only a negative or non-finite rate or length gets here, which
		// the scenario's validation rejects: a load of nothing.
		return &stages{}
	}
	return p
}

// Stages is the pacer of a load shape made of stages, one after another;
// the load lasts the sum of their For.
func Stages(ss []Stage) (Pacer, error) {
	p := &stages{}
	var at, prev, hits float64 // ns, hits per ns, hits so far
	for i, s := range ss {
		switch {
		case s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
			return nil, fmt.Errorf("stage %d: rate %v is not a rate", i, s.Rate)
		case s.For <= 0:
			return nil, fmt.Errorf("stage %d: for must be positive, got %s", i, s.For)
		case s.Ramp < 0 || s.Ramp > s.For:
			return nil, fmt.Errorf("stage %d: ramp %s must be between 0 and for (%s)", i, s.Ramp, s.For)
		}
		r := s.Rate / 1e9
		if s.Ramp > 0 {
			seg := segment{from: at, length: float64(s.Ramp), r0: prev, r1: r, hits0: hits}
			p.segs = append(p.segs, seg)
			at, hits = at+seg.length, hits+seg.count(seg.length)
		}
		if hold := s.For - s.Ramp; hold > 0 {
			seg := segment{from: at, length: float64(hold), r0: r, r1: r, hits0: hits}
			p.segs = append(p.segs, seg)
			at, hits = at+seg.length, hits+seg.count(seg.length)
		}
		prev = r
		p.length += s.For
	}
	return p, nil
}

// stages is a piecewise-linear rate: each segment holds a rate or ramps
// between two. The hits due by time t are the integral of the rate
// (hits0 plus the segment's part); hit n is due when that reaches n.
type stages struct {
	segs   []segment
	length time.Duration
}

type segment struct {
	from, length float64 // ns since the start of the load
	r0, r1       float64 // rate at its start and end, hits per ns
	hits0        float64 // hits due before from
}

// count is the hits due in the first t ns of the segment.
func (s segment) count(t float64) float64 {
	return s.r0*t + (s.r1-s.r0)*t*t/(2*s.length)
}

// at is when, within the segment, k hits of it are due: the root of
// count(t) = k, written so that it stays exact when the rate is constant
// (r0 == r1) and stable when it ramps either way.
func (s segment) at(k float64) float64 {
	if k <= 0 {
		return 0
	}
	a := (s.r1 - s.r0) / (2 * s.length)
	if a == 0 {
		return k / s.r0
	}
	disc := s.r0*s.r0 + 4*a*k
	if disc < 0 {
		disc = 0
	}
	return 2 * k / (s.r0 + math.Sqrt(disc))
}

func (p *stages) total() float64 {
	if len(p.segs) == 0 {
		return 0
	}
	last := p.segs[len(p.segs)-1]
	return last.hits0 + last.count(last.length)
}

func (p *stages) Due(n uint64) (time.Duration, bool) {
	k := float64(n)
	if k >= p.total() {
		return 0, false
	}
	// The segment whose hits cover n: the last with hits0 <= n that is
	// not empty.
	i := sort.Search(len(p.segs), func(i int) bool {
		s := p.segs[i]
		return s.hits0+s.count(s.length) > k
	})
	s := p.segs[i]
	d := time.Duration(math.Round(s.from + s.at(k-s.hits0)))
	if d >= p.length {
		return 0, false
	}
	return d, true
}

func (p *stages) Hits(elapsed time.Duration) uint64 {
	if elapsed <= 0 || len(p.segs) == 0 {
		return 0
	}
	elapsed = min(elapsed, p.length)
	t := float64(elapsed)
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].from+p.segs[i].length >= t })
	i = min(i, len(p.segs)-1)
	s := p.segs[i]
	n := uint64(math.Ceil(s.hits0 + s.count(t-s.from)))
	// Rounding in either formula must not count a hit on the wrong side
	// of elapsed: Due decides.
	for n > 0 {
		if d, ok := p.Due(n - 1); ok && d < elapsed {
			break
		}
		n--
	}
	for {
		if d, ok := p.Due(n); !ok || d >= elapsed {
			return n
		}
		n++
	}
}

func (p *stages) Rate(elapsed time.Duration) float64 {
	t := float64(elapsed)
	for _, s := range p.segs {
		if t >= s.from && t < s.from+s.length {
			return 1e9 * (s.r0 + (s.r1-s.r0)*(t-s.from)/s.length)
		}
	}
	return 0
}

func (p *stages) Length() time.Duration { return p.length }
