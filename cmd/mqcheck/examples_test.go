package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// repoRoot is where the examples and the README live, from this package.
const repoRoot = "../.."

// workflow is what the example workflow's test reads of a GitHub Actions
// workflow file; strict decoding makes a misspelt key an error.
type workflow struct {
	Name        string            `yaml:"name"`
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		RunsOn         string `yaml:"runs-on"`
		TimeoutMinutes int    `yaml:"timeout-minutes"`
		Steps          []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			If   string            `yaml:"if"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

const exampleWorkflow = "examples/github-actions/broker-guarantees.yml"

// shellCommands splits a step's script into simple commands, each as its
// words with quotes removed and redirections dropped. Enough shell for the
// scripts a workflow example holds; anything fancier fails the test.
func shellCommands(t *testing.T, script string) [][]string {
	t.Helper()
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(script, "\n") {
		if i := strings.Index(line, " #"); i >= 0 || strings.HasPrefix(strings.TrimSpace(line), "#") {
			line = line[:max(i, 0)]
		}
		for _, cmd := range regexp.MustCompile(`&&|\|\||[;|]`).Split(line, -1) {
			var words []string
			redirect := false
			for _, w := range strings.Fields(cmd) {
				switch {
				case redirect:
					redirect = false
					continue
				case w == ">" || w == ">>" || w == "<" || w == "2>":
					redirect = true
					continue
				case strings.ContainsAny(w, "$`(){}") && !strings.HasPrefix(w, `"$`):
					t.Fatalf("%q: the test reads no shell expansion beyond a quoted variable", cmd)
				}
				words = append(words, strings.Trim(w, `"'`))
			}
			if len(words) > 0 {
				out = append(out, words)
			}
		}
	}
	return out
}

// TestCIExampleWorkflow loads the GitHub Actions example: every step is
// well formed, every mqcheck command in it parses with this mqcheck's own
// commands and flags, the scenario it runs exists and validates, and then
// runs for real, and every file the later steps read is one that run
// wrote.
func TestCIExampleWorkflow(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, exampleWorkflow))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.UnmarshalWithOptions(raw, &wf, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", exampleWorkflow, err)
	}
	if wf.Name == "" || len(wf.On) == 0 || len(wf.Jobs) != 1 {
		t.Fatalf("%s: want a name, triggers and one job: %+v", exampleWorkflow, wf)
	}
	goMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(goMod)[1]
	goMinor := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)[1]
	pinned := regexp.MustCompile(`^[\w.-]+/[\w.-]+(/[\w.-]+)*@v\d+$`)

	var scenario, outDir string
	var reads []string // paths later steps read, relative to the run directory
	var mqcheckCmds [][]string
	for _, job := range wf.Jobs {
		if job.RunsOn == "" || len(job.Steps) == 0 {
			t.Fatalf("a job without runs-on or steps")
		}
		for i, st := range job.Steps {
			if (st.Uses == "") == (st.Run == "") {
				t.Errorf("step %d (%s): wants exactly one of uses and run", i, st.Name)
			}
			if st.Uses != "" && !pinned.MatchString(st.Uses) {
				t.Errorf("step %d: %q is not pinned to a major version (owner/action@vN)", i, st.Uses)
			}
			if st.Uses == "actions/setup-go@v5" && st.With["go-version"] != string(goMinor) {
				t.Errorf("setup-go installs Go %q, go.mod needs %s", st.With["go-version"], goMinor)
			}
			for _, v := range st.With {
				reads = append(reads, v)
			}
			for _, words := range shellCommands(t, st.Run) {
				switch words[0] {
				case "mqcheck":
					mqcheckCmds = append(mqcheckCmds, words[1:])
				case "go":
					want := []string{"go", "install", string(module) + "/cmd/mqcheck@latest"}
					if !slices.Equal(words, want) {
						t.Errorf("step %d: %q, want %q", i, words, want)
					}
				case "cat", "test", "cp", "rm":
					reads = append(reads, words[1:]...)
				default:
					t.Errorf("step %d runs %q: a command this test does not know", i, words[0])
				}
			}
		}
	}

	for _, args := range mqcheckCmds {
		root := newRootCmd(scenarios.Loader{})
		cmd, rest, err := root.Find(args)
		if err != nil || cmd == root {
			t.Errorf("mqcheck %q: no such command: %v", args, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("mqcheck %q: %v", args, err)
			continue
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("mqcheck %q: %v", args, err)
		}
		if cmd.Name() == "run" {
			scenario = cmd.Flags().Arg(0)
			outDir, _ = cmd.Flags().GetString("out")
		}
	}
	if scenario == "" || outDir == "" {
		t.Fatalf("the workflow runs no scenario into a directory of its own")
	}
	path := filepath.Join(repoRoot, scenario)
	if code, out, errs := mqcheck(t, "validate", path); code != exitPass {
		t.Fatalf("the workflow's scenario %s does not validate: exit %d\n%s%s", scenario, code, out, errs)
	}
	if testing.Short() {
		t.Skip("-short: the example's 12s run is left out")
	}
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := mqcheck(t, "run", path, "--out", dir, "--progress", "plain")
	if code == exitFail {
		// Its latency and rate limits are for a CI runner of its own; this
		// test shares two cores with every other package's (a median
		// end-to-end of 2.3 and 4.6 s in such runs, the 1-minute load
		// average not yet above the cores in one). What must hold here:
		// the claims and no loss; the timing limits are logged.
		res, err := report.ReadFile(filepath.Join(dir, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		if missed, ok := onlyTimingMissed(res); ok {
			t.Logf("the CI example missed only timing limits here (%s): its claims and the rest held", missed)
			code = exitPass
		}
	}
	if code != exitPass {
		t.Fatalf("the CI example does not pass here: exit %d\n%s%s", code, out, errs)
	}
	checked := 0
	for _, r := range reads {
		rel, ok := strings.CutPrefix(filepath.Clean(r), outDir+string(filepath.Separator))
		if !ok {
			continue
		}
		checked++
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			t.Errorf("the workflow reads %s, which the run did not write", r)
		}
	}
	if checked < 2 {
		t.Errorf("the workflow reads %d files of the run: the test checked nothing (%q)", checked, reads)
	}
}

// TestREADMECIExample keeps the README's CI example the workflow file the
// test above loads.
func TestREADMECIExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(repoRoot, exampleWorkflow))
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- ci-example -->\n```yaml\n", "```\n<!-- /ci-example -->"
	i, j := bytes.Index(readme, []byte(start)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block", start, end)
	}
	if got := readme[i+len(start) : j]; !bytes.Equal(got, file) {
		t.Errorf("README.md's CI example differs from %s: copy the file into the block", exampleWorkflow)
	}
}

// TestREADMEBuiltins: README's list of built-in scenarios is what
// `mqcheck scenarios` prints.
func TestREADMEBuiltins(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "<!-- builtins -->\n```\n", "```\n<!-- /builtins -->"
	i, j := bytes.Index(readme, []byte(start)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block", start, end)
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"scenarios"}, &out, &errb); code != 0 {
		t.Fatalf("mqcheck scenarios: exit %d: %s", code, errb.String())
	}
	if got := readme[i+len(start) : j]; !bytes.Equal(got, out.Bytes()) {
		t.Errorf("README.md's built-in list differs from `mqcheck scenarios`; it prints:\n%s", out.String())
	}
}

// onlyTimingMissed says whether every claim of res passed and every
// threshold it missed is a latency or a rate, and names those.
func onlyTimingMissed(res *report.Results) (string, bool) {
	for _, c := range res.Claims {
		if c.Verdict != "pass" {
			return "", false
		}
	}
	var missed []string
	for _, th := range res.Thresholds {
		if th.Verdict == "pass" {
			continue
		}
		if !strings.HasPrefix(th.Metric, "latency.") && !strings.HasSuffix(th.Metric, "_per_s") {
			return "", false
		}
		missed = append(missed, th.Expr)
	}
	return strings.Join(missed, ", "), len(missed) > 0
}

func TestOnlyTimingMissed(t *testing.T) {
	pass := checker.Claim{Name: "at-least-once", Verdict: "pass"}
	lat := report.ThresholdResult{Expr: "end_to_end.p50 < 1s", Metric: "latency.end_to_end.p50", Verdict: "fail"}
	rate := report.ThresholdResult{Expr: "sent_per_s >= 1600", Metric: "throughput.sent_per_s", Verdict: "fail"}
	lost := report.ThresholdResult{Expr: "lost == 0", Metric: "counts.lost", Verdict: "fail"}
	for _, tc := range []struct {
		name   string
		claims []checker.Claim
		ths    []report.ThresholdResult
		want   bool
	}{
		{"latency and rate", []checker.Claim{pass}, []report.ThresholdResult{lat, rate}, true},
		{"nothing missed", []checker.Claim{pass}, nil, false},
		{"a claim failed", []checker.Claim{pass, {Name: "ordered", Verdict: "fail"}}, []report.ThresholdResult{lat}, false},
		{"loss", []checker.Claim{pass}, []report.ThresholdResult{lat, lost}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := onlyTimingMissed(&report.Results{Claims: tc.claims, Thresholds: tc.ths})
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
