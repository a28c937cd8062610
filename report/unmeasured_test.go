package report

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
)

// unreachableResults are what a run writes when its broker could not be
// reached: the load never started.
func unreachableResults() *Results {
	return &Results{SchemaVersion: SchemaVersion, Tool: "mqcheck test", RunID: "00112233aabbccdd",
		Scenario: ScenarioInfo{Name: "quickstart", Broker: "kafka", Seed: 7, Producers: 4, Consumers: 4, Subscriptions: 1,
			Rate: "4000/s", MessageSize: 1024, DurationMS: 20000, Claims: []string{"at-least-once", "ordered"}},
		StartedAt: "2027-01-15T08:00:00Z", EndedAt: "2027-01-15T08:00:05Z", Verdict: checker.Unknown,
		Error:  "infrastructure error: opening kafka target: broker unreachable: kafka at 127.0.0.1:1: connection refused",
		Claims: Undecided([]string{"at-least-once", "ordered"}, NotStarted), Faults: []Fault{}, Notices: []Notice{},
		Timeline: []Second{}, Examples: map[string][]checker.Example{}}
}

// TestUnmeasuredRunIsHonest: a run whose broker was unreachable measured
// nothing, and every rendering says so instead of a full report of zeros:
// no latency table, no drain line, no empty target, the error once, and
// each claim unknown with the reason.
func TestUnmeasuredRunIsHonest(t *testing.T) {
	r := unreachableResults()
	run := &Run{Results: r}
	for _, f := range []struct {
		name   string
		render func(io.Writer) error
		absent []string
	}{
		{"text", func(w io.Writer) error { return Text(w, r) }, []string{"latency", "drain", "p99", "throughput", "acked"}},
		{"md", func(w io.Writer) error { return Markdown(w, r) }, []string{"Latency", "drain", "p99", "| sent |"}},
		{"html", func(w io.Writer) error { return HTML(w, run) }, []string{`class="latency"`, "drain", `<img`, `class="counts"`}},
		{"junit", func(w io.Writer) error { return JUnit(w, r) }, []string{"sent 0"}},
	} {
		t.Run(f.name, func(t *testing.T) {
			out := string(render(t, f.render))
			for _, a := range f.absent {
				if strings.Contains(out, a) {
					t.Errorf("says %q about a run that measured nothing:\n%s", a, out)
				}
			}
			if n := strings.Count(out, "broker unreachable"); n != 1 && f.name != "junit" {
				t.Errorf("the error is written %d times:\n%s", n, out)
			}
			if !strings.Contains(out, "othing measured") {
				t.Errorf("does not say nothing was measured:\n%s", out)
			}
			if strings.Count(out, NotStarted) < 2 {
				t.Errorf("the claims are not listed as undecided with the reason:\n%s", out)
			}
			if strings.Contains(out, " ·  · ") || strings.Contains(out, "· </p>") {
				t.Errorf("an empty field in the header:\n%s", out)
			}
		})
	}
}

// TestResultsFileReadable: results.json is 0644 like every other file of
// the run directory, not the 0600 of a temporary file.
func TestResultsFileReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	if err := WriteFile(path, unreachableResults()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("results.json has mode %v, want 0644", fi.Mode().Perm())
	}
}
