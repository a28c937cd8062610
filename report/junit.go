package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/checker"
)

// The JUnit schema CI systems read (Jenkins, GitLab, GitHub test reporters):
// a suite per run, a test case per claim and per threshold.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// JUnit writes r as JUnit XML: one test case per claim and per threshold, a
// failure carrying the evidence for a violated claim or a missed
// threshold. A claim or threshold the run could not decide is an error, not
// a skip, so a CI gate never shows it as green; an infrastructure error is a
// test case of its own.
func JUnit(w io.Writer, r *Results) error {
	secs := fmt.Sprintf("%.3f", runSeconds(r))
	suite := junitSuite{
		Name: "mqcheck " + r.Scenario.Name, Time: secs, Timestamp: timestamp(r.StartedAt),
		Properties: []junitProperty{
			{"run_id", r.RunID}, {"broker", r.Scenario.Broker}, {"target", r.Target},
			{"seed", fmt.Sprint(r.Scenario.Seed)}, {"verdict", r.Verdict}, {"tool", r.Tool},
		},
		SystemOut: countsLine(r),
	}
	class := "mqcheck." + r.Scenario.Name
	for _, c := range r.Claims {
		tc := junitCase{Name: "claim " + c.Name, Classname: class + ".claims", Time: secs, SystemOut: c.Summary}
		switch c.Verdict {
		case checker.Fail:
			var b strings.Builder
			b.WriteString(c.Summary + "\n")
			for _, x := range c.Evidence {
				b.WriteString(r.EvidenceLine(x) + "\n")
			}
			tc.Failure = &junitProblem{Message: c.Summary, Type: "claim violated", Body: b.String()}
		case checker.Pass:
		default:
			tc.Error = &junitProblem{Message: c.Summary, Type: "undecided", Body: c.Summary}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	for _, t := range r.Thresholds {
		tc := junitCase{Name: "threshold " + t.Expr, Classname: class + ".thresholds", Time: secs, SystemOut: t.Summary}
		switch t.Verdict {
		case checker.Fail:
			tc.Failure = &junitProblem{Message: t.Summary, Type: "threshold missed", Body: t.Summary}
		case checker.Pass:
		default:
			tc.Error = &junitProblem{Message: t.Summary, Type: "undecided", Body: t.Summary}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	if r.Error != "" {
		suite.Cases = append(suite.Cases, junitCase{Name: "run", Classname: class, Time: secs,
			Error: &junitProblem{Message: r.Error, Type: "infrastructure", Body: r.Error}})
	}
	for _, tc := range suite.Cases {
		suite.Tests++
		if tc.Failure != nil {
			suite.Failures++
		}
		if tc.Error != nil {
			suite.Errors++
		}
	}
	doc := junitSuites{Name: "mqcheck", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Time: secs, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encoding junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// runSeconds is the run's wall time, or the scenario's load duration when
// the timestamps are missing.
func runSeconds(r *Results) float64 {
	s, err1 := time.Parse(time.RFC3339Nano, r.StartedAt)
	e, err2 := time.Parse(time.RFC3339Nano, r.EndedAt)
	if err1 != nil || err2 != nil || e.Before(s) {
		return float64(r.Scenario.DurationMS) / 1e3
	}
	return e.Sub(s).Seconds()
}

// timestamp is JUnit's ISO 8601 without a zone.
func timestamp(rfc string) string {
	t, err := time.Parse(time.RFC3339Nano, rfc)
	if err != nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

func countsLine(r *Results) string {
	if !r.Measured() {
		return "nothing measured: the run stopped before the load started"
	}
	c := r.Counts
	line := fmt.Sprintf("sent %d acked %d received %d lost %d duplicated %d reordered %d corrupted %d unexpected %d",
		c.Sent, c.Acked, c.Received, c.Lost, c.Duplicated, c.Reordered, c.Corrupted, c.Unexpected)
	if c.PayloadUnchecked > 0 {
		line += fmt.Sprintf(" payload_unchecked %d", c.PayloadUnchecked)
	}
	return line
}
