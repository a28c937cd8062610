package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
)

// TestExitFor pins the mapping from a run's outcome to the documented exit
// codes (README, "The exit code is the verdict"): the verdict decides 0 or
// 1; an interrupted run is 3 whatever it found; an infrastructure error
// leaves a fail at 1 and anything else at 3; a report file besides
// results.json that could not be written changes nothing; a results.json
// that could not be written (an infrastructure error) makes a pass 3.
func TestExitFor(t *testing.T) {
	infra := fmt.Errorf("%w: the node would not come back", runner.ErrInfra)
	noResults := fmt.Errorf("%w: writing results: disk full", runner.ErrInfra)
	output := &runner.OutputError{Errs: []error{errors.New("report.html: permission denied")}}
	interrupted := fmt.Errorf("%w: drain cut short", runner.ErrInterrupted)
	res := func(v string) *report.Results { return &report.Results{Verdict: v} }
	for _, tc := range []struct {
		name string
		res  *report.Results
		err  error
		code int
	}{
		{"pass", res(checker.Pass), nil, exitPass},
		{"fail", res(checker.Fail), nil, exitFail},
		{"unknown", res(checker.Unknown), nil, exitInfra},
		{"scenario error", nil, &runner.ScenarioError{Err: errors.New("broker.kind")}, exitUsage},
		{"no results", nil, infra, exitInfra},
		{"fail with an infrastructure error", res(checker.Fail), infra, exitFail},
		{"unknown after an infrastructure error", res(checker.Unknown), infra, exitInfra},
		{"interrupted", res(checker.Unknown), interrupted, exitInfra},
		{"interrupted after a violated claim", res(checker.Fail), interrupted, exitInfra},
		{"pass, report.html not written", res(checker.Pass), output, exitPass},
		{"fail, report.html not written", res(checker.Fail), output, exitFail},
		{"pass, results.json not written", res(checker.Pass), noResults, exitInfra},
		{"fail, results.json not written", res(checker.Fail), noResults, exitFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := exitFor(tc.res, tc.err)
			code := exitPass
			var ee *exitError
			switch {
			case errors.As(err, &ee):
				code = ee.code
			case err != nil:
				t.Fatalf("exitFor = %v, not an exit code", err)
			}
			if code != tc.code {
				t.Errorf("exit %d (%v), want %d", code, err, tc.code)
			}
			if tc.err != nil && err == nil {
				t.Errorf("exit 0 without saying the error %v", tc.err)
			}
		})
	}
}
