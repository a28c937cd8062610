package runner

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/report/threshold"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// findMax searches the highest rate the broker sustains within a latency
// bound, as OpenMessaging Benchmark's and PerfTest's rate searches do:
// the load climbs in steps of fixed length (the pacer's stages); each step
// is judged on its timeline seconds (the first left out, the transition
// from the step before) when its last second is recorded; the search
// stops at the first step whose bound's value breaks the bound or whose
// achieved rate falls below 95% of its target, and ends the load there.
// The answer is the last step that held. Latencies count from the
// intended send time, so a broker that falls behind shows as latency
// within the step, not only as a lower rate. The verdict stays the
// checker's, over the whole run.
type findMax struct {
	mu      sync.Mutex
	bound   threshold.Threshold
	text    string
	series  swarm.Series
	stat    threshold.Stat
	stepFor int64 // whole seconds
	rates   []float64
	end     func()

	step  int                     // the step being measured
	hist  *hdrhistogram.Histogram // its latency, seconds after its first
	sent  float64                 // its sends over those seconds
	secs  int
	steps []report.FindMaxStep

	done    bool
	highest float64
	reason  string
}

// newFindMax prepares the search of s; end ends the load (nil: only check).
func newFindMax(s *scenarios.Scenario, end func()) (*findMax, error) {
	l := s.Load
	t, err := threshold.Parse(l.Latency)
	if err != nil {
		return nil, fmt.Errorf("load.latency: %w", err)
	}
	group, rest, _ := strings.Cut(t.Metric.Name, ".")
	name, stat, _ := strings.Cut(rest, ".")
	f := &findMax{bound: t, text: l.Latency, stepFor: int64(l.StepFor.D() / time.Second), end: end,
		series: -1, hist: swarm.NewHistogram()}
	for i := range swarm.NumSeries {
		if i.String() == name {
			f.series = i
		}
	}
	for _, st := range threshold.LatencyStats() {
		if st.Name == stat {
			f.stat = st
		}
	}
	if group != "latency" || f.series < 0 || f.stat.Name == "" || stat == "count" {
		return nil, fmt.Errorf("load.latency: %q is not a latency bound (write e.g. publish.p99 < 50ms)", l.Latency)
	}
	if f.stepFor < 2 || l.StepFor.D()%time.Second != 0 {
		return nil, fmt.Errorf("load.step_for: must be whole seconds, at least 2s, got %s", l.StepFor)
	}
	for _, r := range l.FindMaxSteps() {
		f.rates = append(f.rates, float64(r))
	}
	if len(f.rates) == 0 {
		return nil, fmt.Errorf("load: find-max needs start, step and max (start <= max)")
	}
	return f, nil
}

// observe takes one timeline row and its interval's latency; at the last
// second of a step it judges the step.
func (f *findMax) observe(row report.Second, lat swarm.Histograms) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	k := int((row.T - 1) / f.stepFor)
	for f.step < k && !f.done {
		// A step's last row never came (the timeline skipped none, but a
		// row can be labelled a second late): judge it on what it had.
		f.judge()
	}
	if f.done || k >= len(f.rates) {
		return
	}
	if (row.T-1)%f.stepFor != 0 {
		f.hist.Merge(lat[f.series])
		f.sent += row.SentPerS
		f.secs++
	}
	if row.T%f.stepFor == 0 {
		f.judge()
	}
}

// judge decides the current step and moves to the next, or ends the search.
func (f *findMax) judge() {
	rate := f.rates[f.step]
	st := report.FindMaxStep{StartMS: int64(f.step) * f.stepFor * 1000, EndMS: int64(f.step+1) * f.stepFor * 1000,
		TargetPerS: rate}
	var value float64
	measured := f.secs > 0 && f.hist.TotalCount() > 0
	if f.secs > 0 {
		st.AchievedPerS = f.sent / float64(f.secs)
	}
	if measured {
		switch {
		case f.stat.Percentile > 0:
			value = float64(f.hist.ValueAtQuantile(f.stat.Percentile))
		case f.stat.Name == "max":
			value = float64(f.hist.Max())
		default:
			value = f.hist.Mean()
		}
		st.Value = int64(value + 0.5)
	}
	reached := st.AchievedPerS >= report.RateShortfall*rate
	st.Holds = measured && reached && f.bound.Holds(value)
	f.steps = append(f.steps, st)
	switch {
	case !measured:
		f.stop(fmt.Sprintf("nothing completed in the step at %s/s", fmtRate(rate)))
	case !f.bound.Holds(value):
		f.stop(fmt.Sprintf("the step at %s/s broke the bound: %s was %s", fmtRate(rate), f.bound.Metric.Short(),
			report.FormatMicros(st.Value)))
	case !reached:
		f.stop(fmt.Sprintf("the step at %s/s reached only %s/s", fmtRate(rate), fmtRate(st.AchievedPerS)))
	default:
		f.highest = rate
		if f.step == len(f.rates)-1 {
			f.done = true
			f.reason = fmt.Sprintf("every step held, up to load.max (%s/s)", fmtRate(rate))
			return
		}
	}
	f.step++
	f.hist.Reset()
	f.sent, f.secs = 0, 0
}

func (f *findMax) stop(reason string) {
	f.done, f.reason = true, reason
	if f.end != nil {
		f.end()
	}
}

// result is the search's outcome for results.json.
func (f *findMax) result() *report.FindMax {
	f.mu.Lock()
	defer f.mu.Unlock()
	reason := f.reason
	if !f.done {
		reason = "the load ended before the search did"
	}
	return &report.FindMax{Bound: f.text, HighestPerS: f.highest, Reason: reason,
		Steps: append([]report.FindMaxStep{}, f.steps...)}
}

func fmtRate(v float64) string { return fmt.Sprintf("%.0f", v) }
