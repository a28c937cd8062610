package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestLoadInEveryFormat: the load's notices and a find-max search reach the
// summary, summary.md and report.html.
func TestLoadInEveryFormat(t *testing.T) {
	r := sampleResults()
	r.Load.Mode = LoadFindMax
	r.Load.Notices = []string{"target rate not reached: achieved 1200/s of 2000/s"}
	r.Load.FindMax = &FindMax{Bound: "publish.p99 < 50ms", HighestPerS: 2000, Reason: "the step at 3000/s broke the bound",
		Steps: []FindMaxStep{{StartMS: 0, EndMS: 10000, TargetPerS: 2000, AchievedPerS: 1999, Value: 4200, Holds: true},
			{StartMS: 10000, EndMS: 20000, TargetPerS: 3000, AchievedPerS: 2990, Value: 81000}}}
	for name, render := range map[string]func(*bytes.Buffer) error{
		"text": func(b *bytes.Buffer) error { return Text(b, r) },
		"md":   func(b *bytes.Buffer) error { return Markdown(b, r) },
		"html": func(b *bytes.Buffer) error { return HTML(b, &Run{Results: r}) },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, want := range []string{"target rate not reached", "publish.p99 &lt; 50ms", "2,000/s", "broke the bound", "81.0ms"} {
			if name == "text" {
				want = strings.ReplaceAll(want, "&lt;", "<")
			}
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
}
