package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/report"
)

func mqcheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const okScenario = `name: cli-test
duration: 1s
broker: {kind: memory}
producers: {count: 2, rate: 1k/s, message_size: 100}
consumers: {count: 2}
claims: [at-least-once, ordered]
`

// TestBadInputExits2 feeds bad scenarios and flags and checks that nothing
// runs (exit 2) and that the message names the problem.
func TestBadInputExits2(t *testing.T) {
	tests := []struct {
		name string
		body string   // scenario file, if any
		args []string // after "run"; "FILE" is replaced by the scenario's path
		want []string // each must appear in stderr
	}{
		{"unknown field", strings.Replace(okScenario, "duration:", "duraton:", 1), []string{"FILE"},
			[]string{"s.yaml:2", "duraton", `did you mean "duration"`}},
		{"nested unknown field", strings.Replace(okScenario, "message_size", "mesage_size", 1), []string{"FILE"},
			[]string{"producers.mesage_size", "message_size"}},
		{"wrong type", strings.Replace(okScenario, "count: 2, rate", "count: two, rate", 1), []string{"FILE"},
			[]string{"producers.count"}},
		{"negative rate", strings.Replace(okScenario, "1k/s", "-5/s", 1), []string{"FILE"},
			[]string{"producers.rate", "negative"}},
		{"duration without unit", strings.Replace(okScenario, "1s", "30", 1), []string{"FILE"},
			[]string{"duration", "no unit"}},
		{"missing broker", strings.Replace(okScenario, "broker: {kind: memory}\n", "", 1), []string{"FILE"},
			[]string{"broker.kind", "required"}},
		{"unknown broker", strings.Replace(okScenario, "kind: memory", "kind: kafak", 1), []string{"FILE"},
			[]string{"broker.kind", "kafka"}},
		{"unknown claim", strings.Replace(okScenario, "ordered]", "orderd]", 1), []string{"FILE"},
			[]string{"claims", "ordered"}},
		{"message smaller than the header", strings.Replace(okScenario, "message_size: 100", "message_size: 20", 1), []string{"FILE"},
			[]string{"producers.message_size", "48"}},
		{"bad --set path", okScenario, []string{"FILE", "--set", "producers.ratee=5/s"},
			[]string{"producers.ratee", "rate"}},
		{"bad --set value", okScenario, []string{"FILE", "--set", "producers.rate=fast"},
			[]string{"producers.rate"}},
		{"--set without =", okScenario, []string{"FILE", "--set", "producers.rate"},
			[]string{"path=value"}},
		{"no such scenario", "", []string{"no-such-scenario"}, []string{"no-such-scenario"}},
		{"unknown flag", okScenario, []string{"FILE", "--frobnicate"}, []string{"frobnicate"}},
		{"restart fault on a broker mqcheck cannot restart", okScenario + "faults: [{kind: restart, at: 500ms}]\n",
			[]string{"FILE"}, []string{"faults.0", "restart"}},
		{"a contradiction only the driver sees", strings.Replace(okScenario, "broker: {kind: memory}",
			"broker: {kind: memory, memory: {mode: queue, partitions: 3}}", 1), []string{"FILE"},
			[]string{"broker.memory.partitions", "mode queue"}},
		{"zero producers", strings.Replace(okScenario, "count: 2, rate", "count: 0, rate", 1), []string{"FILE"},
			[]string{"producers.count", "consumers.backlog is not set", "--backlog DIR"}},
		{"zero duration", strings.Replace(okScenario, "duration: 1s", "duration: 0s", 1), []string{"FILE"},
			[]string{"duration", "positive"}},
		{"negative drain timeout", okScenario + "drain_timeout: -1s\n", []string{"FILE"},
			[]string{"drain_timeout", "positive"}},
		{"zero max_in_flight", strings.Replace(okScenario, "message_size: 100}", "message_size: 100, max_in_flight: 0}", 1), []string{"FILE"},
			[]string{"producers.max_in_flight", "at least 1"}},
		{"no consumers with a loss claim", strings.Replace(okScenario, "consumers: {count: 2}", "consumers: {count: 0}", 1), []string{"FILE"},
			[]string{"consumers.count", "at-least-once needs consumers"}},
		{"fault after the run ends", okScenario + "faults: [{kind: restart, at: 5s}]\n", []string{"FILE"},
			[]string{"faults.0.at", "after the run ends"}},
		{"unknown fault kind", okScenario + "faults: [{kind: partition, at: 500ms}]\n", []string{"FILE"},
			[]string{"faults.0.kind", `"partition"`, "restart"}},
		{"a string where a list goes", strings.Replace(okScenario, "claims: [at-least-once, ordered]", "claims: at-least-once", 1), []string{"FILE"},
			[]string{"claims", "expected a list"}},
		{"claim listed twice", strings.Replace(okScenario, "ordered]", "at-least-once]", 1), []string{"FILE"},
			[]string{"claims.1", "twice"}},
		{"fail fraction of 1 or more", strings.Replace(okScenario, "consumers: {count: 2}", "consumers: {count: 2, fail_fraction: 1.5}", 1), []string{"FILE"},
			[]string{"consumers.fail_fraction", "below 1"}},
		{"url with an embedded target", strings.Replace(okScenario, "broker: {kind: memory}", "broker: {kind: memory, target: embedded, url: \"h:1\"}", 1), []string{"FILE"},
			[]string{"broker.url", "target"}},
		{"idempotence without acks=all", strings.Replace(okScenario, "broker: {kind: memory}", "broker: {kind: kafka, kafka: {acks: leader, idempotent: true}}", 1), []string{"FILE"},
			[]string{"broker.kafka.idempotent", "acks=all"}},
		{"threshold on an unknown metric", okScenario + "thresholds: [\"latncy.p99 < 50ms\"]\n", []string{"FILE"},
			[]string{"thresholds.0", "unknown metric", "latncy"}},
		{"YAML syntax error", "name: x\nbroker: {kind: memory\n", []string{"FILE"}, []string{"s.yaml"}},
		{"two YAML documents", okScenario + "---\nname: other\n", []string{"FILE"}, []string{"second YAML document"}},
		{"--set an unknown claim", okScenario, []string{"FILE", "--set", "claims=at-least-onse"},
			[]string{"claims.0", `did you mean "at-least-once"`}},
		{"--set a message size below the header", okScenario, []string{"FILE", "--set", "producers.message_size=10"},
			[]string{"--set producers.message_size=10", "header"}},
		{"--set a duration without unit", okScenario, []string{"FILE", "--set", "duration=30"},
			[]string{"duration", "no unit"}},
		{"--quiet with --verbose", okScenario, []string{"FILE", "--quiet", "--verbose"}, []string{"--quiet and --verbose"}},
		{"--metrics-addr without a port", okScenario, []string{"FILE", "--metrics-addr", "localhost"},
			[]string{"--metrics-addr", "host:port"}},
		{"--log-format unknown", okScenario, []string{"FILE", "--log-format", "xml"}, []string{"--log-format", "json"}},
		{"--progress unknown", okScenario, []string{"FILE", "--progress", "fancy"}, []string{"--progress", "plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.body != "" {
				path = writeScenario(t, tt.body)
			}
			args := []string{"run", "--out", t.TempDir()}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "FILE", path))
			}
			code, _, stderr := mqcheck(t, args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not name %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestRunPassExits0AndWritesResults(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := mqcheck(t, "run", writeScenario(t, okScenario), "--out", out)
	if code != exitPass {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"verdict: PASS", "at-least-once", "results.json", "× 1 subscription,"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	// The memory broker's target line named the seed the header names.
	if n := strings.Count(stdout, "seed "); n != 1 {
		t.Errorf("the seed is printed %d times:\n%s", n, stdout)
	}
	var res struct {
		Verdict string `json:"verdict"`
		Counts  struct {
			Sent, Received, Lost uint64
		} `json:"counts"`
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != "pass" || res.Counts.Sent == 0 || res.Counts.Received != res.Counts.Sent {
		t.Errorf("results.json: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(out, "scenario.yaml")); err != nil {
		t.Errorf("no resolved scenario.yaml: %v", err)
	}
}

func TestViolatedClaimExits1(t *testing.T) {
	body := okScenario + "  # drop three acked messages\n"
	body = strings.Replace(body, "broker: {kind: memory}", "broker: {kind: memory, memory: {faults: {window: 200, drop: 3}}}", 1)
	code, stdout, stderr := mqcheck(t, "run", writeScenario(t, body), "--out", t.TempDir(), "--quiet")
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitFail, stdout, stderr)
	}
	if stdout != "" {
		t.Errorf("--quiet printed:\n%s", stdout)
	}
}

func TestUnreachableBrokerExits3(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the dial is refused at once.
	body := strings.Replace(okScenario, "broker: {kind: memory}", "broker: {kind: kafka, target: url, url: \"127.0.0.1:1\"}", 1)
	out := t.TempDir()
	start := time.Now()
	code, _, stderr := mqcheck(t, "run", writeScenario(t, body), "--out", out, "--quiet")
	if code != exitInfra {
		t.Fatalf("exit %d, want %d\n%s", code, exitInfra, stderr)
	}
	if !strings.Contains(stderr, "unreachable") {
		t.Errorf("stderr does not say the broker is unreachable:\n%s", stderr)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("took %s to give up on an unreachable broker", d)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("no results.json after an infrastructure error: %v", err)
	}
	if !bytes.Contains(b, []byte(`"verdict": "unknown"`)) {
		t.Errorf("verdict is not unknown:\n%s", b)
	}
}

func TestValidateAndScenarios(t *testing.T) {
	if code, out, errs := mqcheck(t, "validate", writeScenario(t, okScenario)); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("validate: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ := mqcheck(t, "scenarios")
	if code != 0 || !strings.Contains(out, "quickstart") {
		t.Errorf("scenarios: exit %d\n%s", code, out)
	}
	code, out, _ = mqcheck(t, "run", "quickstart", "--print")
	if code != 0 || !strings.Contains(out, "name: quickstart") {
		t.Errorf("run --print: exit %d\n%s", code, out)
	}
}

// unreachable is a scenario whose broker cannot be reached: port 1 on
// loopback refuses at once.
var unreachable = strings.Replace(okScenario, "broker: {kind: memory}", "broker: {kind: kafka, target: url, url: \"127.0.0.1:1\"}", 1)

// TestUnreachableBrokerSaysItOnce: a run that never reached its broker
// says so once, prints no summary of zeros, and writes results.json with
// the error, the verdict unknown and each claim unknown with the reason.
func TestUnreachableBrokerSaysItOnce(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := mqcheck(t, "run", writeScenario(t, unreachable), "--out", out)
	if code != exitInfra {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitInfra, stdout, stderr)
	}
	all := stdout + stderr
	if n := strings.Count(all, "broker unreachable"); n != 1 {
		t.Errorf("the error is said %d times:\n%s", n, all)
	}
	for _, zero := range []string{"latency", "drain", "sent", "verdict: UNKNOWN"} {
		if strings.Contains(stdout, zero) {
			t.Errorf("stdout shows %q for a run that measured nothing:\n%s", zero, stdout)
		}
	}
	if !strings.Contains(stdout, "nothing measured: results in "+filepath.Join(out, "results.json")) {
		t.Errorf("stdout does not say where the results are:\n%s", stdout)
	}
	res := readResults(t, out)
	if res.Verdict != "unknown" || !strings.Contains(res.Error, "broker unreachable") || len(res.Claims) != 2 {
		t.Fatalf("results.json: verdict %s, error %q, %d claims", res.Verdict, res.Error, len(res.Claims))
	}
	for _, c := range res.Claims {
		if c.Verdict != "unknown" || !strings.Contains(c.Summary, "the load did not start") {
			t.Errorf("claim %s: %s, %q", c.Name, c.Verdict, c.Summary)
		}
	}
}

// TestRunJSON: with --json, stdout is the results document and nothing
// else (it parses, and equals results.json); the header, progress and
// summary go to stderr. A run that measured nothing still prints its
// document, with the error.
func TestRunJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       int
	}{{"pass", okScenario, exitPass}, {"unreachable", unreachable, exitInfra}} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := mqcheck(t, "run", writeScenario(t, tc.body), "--out", out, "--json")
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			dec := json.NewDecoder(strings.NewReader(stdout))
			var got report.Results
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("stdout is not a results document: %v\n%s", err, stdout)
			}
			if dec.More() {
				t.Errorf("more than the document on stdout:\n%s", stdout)
			}
			want, err := os.ReadFile(filepath.Join(out, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			if stdout != string(want) {
				t.Errorf("stdout differs from results.json")
			}
			if !strings.Contains(stderr, "mqcheck: running cli-test") {
				t.Errorf("the header is not on stderr:\n%s", stderr)
			}
			if tc.code == exitPass && !strings.Contains(stderr, "verdict: PASS") {
				t.Errorf("the summary is not on stderr:\n%s", stderr)
			}
		})
	}
}

// TestBuiltinShadowed: a file or directory named like a built-in is not
// silently taken for it (nor the other way round): the note says which was
// used and how to get the other; builtin:NAME is always the built-in.
func TestBuiltinShadowed(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("memory-quickstart", 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errs := mqcheck(t, "validate", "memory-quickstart")
	if code != 0 || !strings.Contains(out, "valid (memory-quickstart on memory") ||
		!strings.Contains(errs, "memory-quickstart is a directory here; using the built-in scenario memory-quickstart") {
		t.Errorf("a directory of a built-in's name: exit %d\n%s%s", code, out, errs)
	}
	if err := os.WriteFile("quickstart", []byte("name: mine\nbroker: {kind: memory}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = mqcheck(t, "validate", "quickstart")
	if code != 0 || !strings.Contains(out, "valid (mine on memory") || !strings.Contains(errs, "builtin:quickstart runs the built-in") {
		t.Errorf("a file of a built-in's name: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = mqcheck(t, "validate", "builtin:quickstart")
	if code != 0 || !strings.Contains(out, "valid (quickstart on kafka") || errs != "" {
		t.Errorf("builtin:quickstart: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := mqcheck(t, "validate", "builtin:quikstart"); code != exitUsage || !strings.Contains(errs, `did you mean "quickstart"`) {
		t.Errorf("builtin:quikstart: exit %d\n%s", code, errs)
	}
}
