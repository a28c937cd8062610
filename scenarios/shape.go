package scenarios

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/report/threshold"
)

// validateLoad checks the load shape against itself and the rest of the
// scenario: a shape sets the rate (producers.rate must be left out) and
// the length (duration, when written, must agree).
func (s *Scenario) validateLoad(p *problems) {
	l := s.Load
	if !l.Shaped() {
		if l.Start != 0 || l.Step != 0 || l.StepFor != 0 || l.Max != 0 || l.Latency != "" {
			p.add("load", "start, step, step_for, max and latency are find-max's: add mode: find-max")
		}
		return
	}
	if s.Producers.Rate != 0 {
		p.add("producers.rate", "the load shape (load) sets the rate: remove producers.rate (%s)", s.Producers.Rate)
	}
	switch l.Mode {
	case LoadStages:
		s.validateStages(p)
	case LoadFindMax:
		s.validateFindMax(p)
	default:
		p.add("load.mode", "unknown mode %q, %s", l.Mode, suggestList(l.Mode, []string{LoadStages, LoadFindMax}))
		return
	}
	if length := l.Length(); length > 0 && s.Duration != length {
		p.add("duration", "%s, but the load shape lasts %s: leave duration out (it is the shape's length) or make them agree",
			s.Duration, length)
	}
}

func (s *Scenario) validateStages(p *problems) {
	l := s.Load
	if len(l.Stages) == 0 {
		p.add("load.stages", "mode stages needs at least one stage (e.g. {rate: 1k/s, for: 30s})")
	}
	if l.Start != 0 || l.Step != 0 || l.StepFor != 0 || l.Max != 0 || l.Latency != "" {
		p.add("load", "start, step, step_for, max and latency are find-max's, not for mode stages")
	}
	for i, st := range l.Stages {
		field := "load.stages." + strconv.Itoa(i)
		if r := float64(st.Rate); r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			p.add(field+".rate", "must be a rate (0 pauses the load), got %s", strconv.FormatFloat(r, 'g', -1, 64))
		}
		if st.For <= 0 {
			p.add(field+".for", "must be positive (e.g. 30s), got %s", st.For)
		}
		if st.Ramp < 0 || st.Ramp > st.For {
			p.add(field+".ramp", "must be between 0 and the stage's for (%s), got %s", st.For, st.Ramp)
		}
	}
}

func (s *Scenario) validateFindMax(p *problems) {
	l := s.Load
	if len(l.Stages) > 0 {
		p.add("load.stages", "stages are for mode stages; find-max makes its own steps (start, step, max)")
	}
	positive := func(field string, r Rate) {
		if v := float64(r); v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			p.add(field, "find-max needs a positive rate here (e.g. 1k/s), got %s", r)
		}
	}
	positive("load.start", l.Start)
	positive("load.step", l.Step)
	positive("load.max", l.Max)
	if l.Max > 0 && l.Start > 0 && l.Max < l.Start {
		p.add("load.max", "%s is below load.start (%s)", l.Max, l.Start)
	}
	if l.Start > 0 && l.Step > 0 && float64((l.Max-l.Start)/l.Step) >= MaxFindMaxSteps {
		p.add("load.step", "%s from %s to %s makes more than %d steps: take a larger step", l.Step, l.Start, l.Max, MaxFindMaxSteps)
	}
	// Steps are judged on whole timeline seconds; the first of each is
	// left out as the transition from the step before.
	if l.StepFor < Duration(2*time.Second) || l.StepFor%Duration(time.Second) != 0 {
		p.add("load.step_for", "must be whole seconds, at least 2s (each step is judged on its timeline seconds), got %s", l.StepFor)
	}
	if l.Latency == "" {
		p.add("load.latency", `find-max needs a latency bound, e.g. "publish.p99 < 50ms"`)
		return
	}
	t, err := threshold.Parse(l.Latency)
	switch {
	case err != nil:
		p.add("load.latency", "%v", err)
	case !strings.HasPrefix(t.Metric.Name, "latency.") || t.Metric.Kind != threshold.Duration:
		p.add("load.latency", "%q is not a latency bound (write e.g. publish.p99 < 50ms)", l.Latency)
	case t.Op != "<" && t.Op != "<=":
		p.add("load.latency", "%q: a bound is an upper limit, use < or <=", l.Latency)
	}
}
