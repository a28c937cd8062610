package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/kinds"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/fakekind"
	"github.com/mqcheck/mqcheck/scenarios"
)

// withFake runs the CLI with a made-up broker kind added to the build's
// list: the CLI learns what exists from the list alone.
func withFake(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	ld := scenarios.Loader{Kinds: kinds.Default().With(fakekind.Kind())}
	code = runWith(ctx, ld, args, &out, &errb)
	return code, out.String(), errb.String()
}

const fakeScenario = `name: cli-fake
duration: 1s
broker:
  kind: fake
  fake: {lanes: 3, token: hunter22}
producers: {count: 2, rate: 1k/s, message_size: 100}
consumers: {count: 2}
claims: [at-least-once, ordered]
`

func TestFakeKindThroughTheCLI(t *testing.T) {
	file := writeScenario(t, fakeScenario)
	if code, out, errOut := withFake(t, "validate", file); code != exitPass || !strings.Contains(out, "cli-fake on fake") {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	bad := writeScenario(t, strings.Replace(fakeScenario, "lanes: 3", "lanes: 99", 1))
	if code, _, errOut := withFake(t, "validate", bad); code != exitUsage || !strings.Contains(errOut, "s.yaml:5: broker.fake.lanes: must be between 1 and 64") {
		t.Errorf("invalid section: exit %d, %s", code, errOut)
	}
	if code, _, errOut := withFake(t, "validate", file, "--set", "broker.fake.lans=2"); code != exitUsage || !strings.Contains(errOut, `did you mean "lanes"?`) {
		t.Errorf("--set typo: exit %d, %s", code, errOut)
	}
	code, out, _ := withFake(t, "run", file, "--print", "--set", "broker.fake.order=queue", "--set", "broker.fake.lanes=1")
	if code != exitPass || !strings.Contains(out, "order: queue") || strings.Contains(out, "hunter22") {
		t.Errorf("--print: exit %d\n%s", code, out)
	}
	code, out, _ = withFake(t, "schema")
	if code != exitPass || !strings.Contains(out, `"#/$defs/Fake"`) || !strings.Contains(out, `"lanes"`) {
		t.Errorf("schema: exit %d, no fake section", code)
	}
	if code, out, _ := withFake(t, "--help"); code != exitPass || !strings.Contains(out, "fake       a made-up broker kind") {
		t.Errorf("help lists no fake kind:\n%s", out)
	}
	// The build's own CLI does not know it.
	if code, _, errOut := mqcheck(t, "validate", file); code != exitUsage || !strings.Contains(errOut, "broker.fake") {
		t.Errorf("default kinds: exit %d, %s", code, errOut)
	}

	dir := filepath.Join(t.TempDir(), "run")
	code, out, errOut := withFake(t, "run", file, "--out", dir, "--progress", "plain")
	if code != exitPass {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	res := readResults(t, dir)
	if res.Verdict != checker.Pass || res.Scenario.Broker != "fake" || !strings.HasPrefix(res.Target, "fake broker") ||
		res.Counts.Sent == 0 || res.Counts.Lost != 0 {
		t.Errorf("results: verdict %s, broker %q, target %q, counts %+v", res.Verdict, res.Scenario.Broker, res.Target, res.Counts)
	}
	resolved, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil || !strings.Contains(string(resolved), "  fake:\n    lanes: 3\n") || strings.Contains(string(resolved), "hunter22") {
		t.Errorf("scenario.yaml (%v):\n%s", err, resolved)
	}
}
