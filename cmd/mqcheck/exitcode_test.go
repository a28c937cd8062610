package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kinds"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// The exit code is the verdict's: a violated claim exits 1 whatever else
// went wrong after it was decided, a file besides results.json that could
// not be written is said without changing the code, and only an error that
// left the verdict unknown exits 3.

// healFailConfig is the section of a test kind: the memory broker, with
// duplicates to inject, behind a restarter whose start (the heal of a
// restart fault) fails.
type healFailConfig struct {
	Duplicate int `yaml:"duplicate,omitempty" json:"duplicate,omitempty"`
}

func (c *healFailConfig) Validate() error { return nil }

type healFails struct{}

func (healFails) Nodes() int                            { return 1 }
func (healFails) Stop(context.Context, int, bool) error { return nil }
func (healFails) Start(context.Context, int) error      { return errors.New("the node would not come back") }
func openHealFail(ctx context.Context, c *healFailConfig, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	cfg := &memory.Config{}
	if c != nil && c.Duplicate > 0 {
		cfg.Faults = memory.Faults{Window: 200, Duplicate: c.Duplicate}
	}
	t, err := memory.Open(ctx, cfg, spec, env)
	if err != nil {
		return nil, err
	}
	t.Restarter = healFails{}
	return t, nil
}

func withHealFail(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	k := broker.Kind{Name: "healfail", Title: "Heal fails", Description: "memory broker whose restarts never heal",
		Targets: []string{broker.TargetEmbedded}, NewConfig: func() broker.Config { return &healFailConfig{} },
		Open: broker.Typed(openHealFail)}
	code = runWith(ctx, scenarios.Loader{Kinds: kinds.Default().With(k)}, args, &out, &errb)
	return code, out.String(), errb.String()
}

const healFailScenario = `name: heal-fail
duration: 1s
drain_settle: 0s
broker: {kind: healfail, healfail: {duplicate: DUP}}
producers: {count: 1, rate: 1k/s, message_size: 100}
consumers: {count: 1}
claims: [at-most-once]
faults: [{kind: restart, at: 200ms, for: 100ms}]
`

// TestHealErrorKeepsTheVerdict: a restart whose heal fails. With three
// duplicates the claim is violated anyway: exit 1, the error said beside
// the verdict (it was 3: the heal error was checked before the verdict).
// Without them nothing was violated, but the scenario did not run as
// written: the verdict is unknown, in results.json too, and the exit 3.
func TestHealErrorKeepsTheVerdict(t *testing.T) {
	for _, tc := range []struct {
		dup     string
		code    int
		verdict string
	}{{"3", exitFail, checker.Fail}, {"0", exitInfra, checker.Unknown}} {
		t.Run("duplicates "+tc.dup, func(t *testing.T) {
			dir := t.TempDir()
			code, stdout, stderr := withHealFail(t, "run", writeScenario(t, strings.Replace(healFailScenario, "DUP", tc.dup, 1)),
				"--out", dir, "--progress", "plain")
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stderr, "would not come back") {
				t.Errorf("the heal error is not said:\n%s", stderr)
			}
			if !strings.Contains(stdout, "verdict: "+strings.ToUpper(tc.verdict)) {
				t.Errorf("no summary with the verdict:\n%s", stdout)
			}
			if res := readResults(t, dir); res.Verdict != tc.verdict || res.Error == "" {
				t.Errorf("results.json: verdict %s, error %q; want %s and the error", res.Verdict, res.Error, tc.verdict)
			}
		})
	}
}

// TestUnwrittenReportKeepsTheVerdict: report.html cannot be written (a
// directory is in its way). A failing run still exits 1, a passing one 0,
// and stderr says what was not written (both exited 3).
func TestUnwrittenReportKeepsTheVerdict(t *testing.T) {
	for _, tc := range []struct {
		name, memory string
		code         int
	}{
		{"violated claim", "{faults: {window: 200, drop: 3}}", exitFail},
		{"pass", "{}", exitPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "report.html"), 0o755); err != nil {
				t.Fatal(err)
			}
			body := strings.Replace(okScenario, "broker: {kind: memory}", "broker: {kind: memory, memory: "+tc.memory+"}", 1) +
				"drain_settle: 0s\n"
			code, stdout, stderr := mqcheck(t, "run", writeScenario(t, body), "--out", dir, "--progress", "plain")
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stderr, "not written") || !strings.Contains(stderr, "report.html") {
				t.Errorf("stderr does not say report.html was not written:\n%s", stderr)
			}
			for _, f := range []string{"results.json", "junit.xml", "summary.md"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}
