package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// complete asks for completions as the shell scripts do (cobra's hidden
// __complete command) and returns the offered words.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, errs := mqcheck(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s", args, code, errs)
	}
	var words []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, ":") {
			break // the directive
		}
		word, _, _ := strings.Cut(l, "\t")
		words = append(words, word)
	}
	return words
}

// TestCompletion: scenario names (built-ins and scenario files), --set
// paths and flag values complete; every shell gets a script.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mine.yaml", "notes.txt", "sub/other.yml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"run", "quick"}, []string{"quickstart"}, []string{"memory-quickstart"}},
		{[]string{"validate", "rabbitmq-f"}, []string{"rabbitmq-fanout"}, nil},
		{[]string{"run", dir + "/"}, []string{dir + "/mine.yaml", dir + "/sub/"}, []string{dir + "/notes.txt"}},
		{[]string{"run", dir + "/sub/"}, []string{dir + "/sub/other.yml"}, nil},
		{[]string{"run", "quickstart", "--set", "producers.r"}, []string{"producers.rate="}, []string{"producers.count="}},
		{[]string{"validate", "quickstart", "--set", "broker.kafka.ac"}, []string{"broker.kafka.acks="}, nil},
		{[]string{"run", "quickstart", "--set", "faults.0.k"}, []string{"faults.0.kind="}, nil},
		{[]string{"run", "quickstart", "--progress", ""}, []string{"auto", "live", "plain"}, nil},
		{[]string{"run", "quickstart", "--log-format", ""}, []string{"text", "json"}, nil},
		{[]string{"report", "runs/x", "--format", ""}, []string{"text", "json", "md", "junit", "html"}, nil},
		{[]string{"compare", "a", "b", "--format", ""}, []string{"text", "md", "json"}, nil},
	} {
		got := complete(t, tc.args...)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%v: %v lacks %q", tc.args, got, w)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("%v: %v offers %q", tc.args, got, w)
			}
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errs := mqcheck(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "mqcheck") {
			t.Errorf("completion %s: exit %d\n%.200s%s", shell, code, out, errs)
		}
	}
}
