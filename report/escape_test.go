package report

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
)

// hostile is what a broker error, a scenario or a driver notice could carry.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>"'&|*_[x](javascript:alert(1))` + "`\n# h"

// hostileRun puts hostile text everywhere a broker or a scenario reaches.
func hostileRun() *Run {
	r := sampleResults()
	r.Scenario.Name = "evil" + hostile
	r.Scenario.Description = hostile
	r.Scenario.Broker = hostile
	r.Target = hostile
	r.Error = hostile
	r.Drain.Reason = hostile
	r.Claims[1].Summary = hostile
	r.Claims[1].Evidence[0].Detail = hostile
	r.Claims[1].Evidence[0].Domain = hostile
	r.Claims[1].Evidence[0].Subscription = hostile
	r.Notices = append(r.Notices, Notice{AtMS: 1, Kind: hostile, Detail: hostile})
	r.Faults[0].Target = hostile
	r.Faults[0].Error = hostile
	r.Timeline[8].Faults = []string{hostile}
	r.Examples[hostile] = []checker.Example{{Anomaly: hostile, At: r.LoadStartNS + 1e9, Detail: hostile}}
	r.Thresholds[0].Expr = hostile
	r.Thresholds[0].Summary = hostile
	return &Run{Results: r, Scenario: []byte("name: x\ndescription: " + hostile + "\n")}
}

func TestHTMLEscapesHostileText(t *testing.T) {
	run := hostileRun()
	for name, f := range map[string]func(io.Writer) error{
		"one run":      func(w io.Writer) error { return HTML(w, run) },
		"side by side": func(w io.Writer) error { return HTMLRuns(w, []*Run{run, hostileRun()}) },
	} {
		out := render(t, f)
		for _, bad := range []string{"<script", "<img src=x", "onerror=alert(1)>"} {
			if bytes.Contains(bytes.ToLower(out), []byte(bad)) {
				t.Errorf("%s: the page holds %q unescaped", name, bad)
			}
		}
		if !bytes.Contains(out, []byte("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")) {
			t.Errorf("%s: the hostile text is not shown escaped", name)
		}
		// The charts (legends name faults and anomaly kinds) are SVG
		// documents of their own: escaped there too, and well-formed.
		for _, u := range dataURI.FindAll(out, -1) {
			svg, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(u), "data:image/svg+xml;base64,"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(svg, []byte("<script")) || bytes.Contains(svg, []byte("<img")) {
				t.Errorf("%s: a chart holds hostile markup", name)
			}
			if err := xml.Unmarshal(svg, new(struct{})); err != nil {
				t.Errorf("%s: a chart is not well-formed: %v", name, err)
			}
		}
	}
}

// liveLink is a Markdown link whose ] is not escaped.
var liveLink = regexp.MustCompile(`[^\\]\]\(`)

func TestMarkdownEscapesHostileText(t *testing.T) {
	run := hostileRun()
	for name, out := range map[string][]byte{
		"one run":      render(t, func(w io.Writer) error { return Markdown(w, run.Results) }),
		"side by side": render(t, func(w io.Writer) error { return MarkdownRuns(w, []*Run{run}) }),
	} {
		if bytes.Contains(out, []byte("<script")) || bytes.Contains(out, []byte("<img")) {
			t.Errorf("%s: raw HTML in the Markdown:\n%s", name, out)
		}
		if liveLink.Match(out) {
			t.Errorf("%s: a live link in the Markdown", name)
		}
		// Every table row keeps its cells: no stray | or line break.
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "| ") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") < 3 {
				t.Errorf("%s: broken table row %q", name, line)
			}
		}
	}
}

func TestJUnitKeepsHostileTextAsData(t *testing.T) {
	r := hostileRun().Results
	out := render(t, func(w io.Writer) error { return JUnit(w, r) })
	var doc junitSuites
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if doc.Suites[0].Cases[1].Failure.Message != hostile {
		t.Errorf("the failure message did not survive: %q", doc.Suites[0].Cases[1].Failure.Message)
	}
}
