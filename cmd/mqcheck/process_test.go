package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/internal/kfakeserver"
	"github.com/mqcheck/mqcheck/report"
)

// asMainEnv makes the test binary act as mqcheck: subprocess tests re-run
// it, so they need no separate build and get the race detector too.
const asMainEnv = "MQCHECK_TEST_AS_MAIN"

// kfakeEnv makes the test binary act as kfakeserver, a Kafka cluster in a
// process of its own that a test stops and starts again (before asMainEnv:
// an mqcheck subprocess's fault command inherits that).
const kfakeEnv = "MQCHECK_TEST_AS_KFAKESERVER"

func TestMain(m *testing.M) {
	if os.Getenv(kfakeEnv) == "1" {
		os.Exit(kfakeserver.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	if os.Getenv(asMainEnv) == "1" {
		main()
		return
	}
	// Commands run in-process here: the process is set up as main does.
	setupProcess()
	code := m.Run()
	if userBuildDir != "" {
		_ = os.RemoveAll(userBuildDir)
	}
	os.Exit(code)
}

// proc is an mqcheck subprocess in a process group of its own, so the test
// can tell whether anything it started outlives it.
type proc struct {
	cmd   *exec.Cmd
	start time.Time

	mu     sync.Mutex
	stdout []string
	stderr bytes.Buffer
	seen   chan struct{} // signalled on each stdout line

	done chan struct{}
	code int
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func startMQCheck(t *testing.T, args ...string) *proc {
	t.Helper()
	return startMQCheckIn(t, "", nil, args...)
}

// startMQCheckIn starts mqcheck in working directory dir ("" for the
// test's) with env added to the environment.
func startMQCheckIn(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	return startBinaryIn(t, os.Args[0], dir, env, args...)
}

// startBinaryIn starts the mqcheck binary bin (the test binary, or a
// user's build from userBuild) as startMQCheckIn does.
func startBinaryIn(t *testing.T, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{seen: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	// CI=1: plain progress lines, whatever the terminal running the tests.
	p.cmd.Env = append(append(os.Environ(), asMainEnv+"=1", "CI=1"), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stderr = p
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.start = time.Now()
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout = append(p.stdout, sc.Text())
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
		}
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -2
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			// Only the group this test started.
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

// userBuild builds mqcheck as a user does (go build, no race detector)
// once per test binary, and returns its path. The built-ins run on it: what
// they promise is what a user's build shows, and 31 race-instrumented
// processes (several times the CPU each) made their timing the machine's
// rather than the broker's. Every other CLI test still runs the
// race-instrumented test binary.
func userBuild(t *testing.T) string {
	t.Helper()
	userBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mqcheck-build-")
		if err != nil {
			userBuildErr = err
			return
		}
		userBuildDir = dir
		// go test puts its own go first on PATH.
		goBin, err := exec.LookPath("go")
		if err != nil {
			userBuildErr = fmt.Errorf("no go command on PATH: %w", err)
			return
		}
		bin := filepath.Join(dir, "mqcheck")
		cmd := exec.Command(goBin, "build", "-o", bin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			userBuildErr = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		userBuildBin = bin
	})
	if userBuildErr != nil {
		t.Fatalf("building mqcheck for the built-ins: %v", userBuildErr)
	}
	return userBuildBin
}

var (
	userBuildOnce sync.Once
	userBuildBin  string
	userBuildDir  string
	userBuildErr  error
)

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stdout, "\n") + "\n--- stderr:\n" + p.stderr.String()
}

// waitLine waits for a stdout line matching re and returns it.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for _, l := range p.stdout {
			if re.MatchString(l) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.seen:
		case <-p.done:
			t.Fatalf("mqcheck exited (%d) before printing %q:\n%s", p.code, re, p.output())
		case <-deadline:
			t.Fatalf("no line matching %q within %s:\n%s", re, timeout, p.output())
		}
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", sig, err)
	}
}

// wait returns the exit code; the process must end within timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("mqcheck still running %s after the signal:\n%s", timeout, p.output())
	}
	return 0
}

// assertNothingLeft checks that no process of the group survived and that
// nothing listens on addrs any more.
func assertNothingLeft(t *testing.T, p *proc, addrs ...string) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("processes of mqcheck's group still alive after it exited (kill -0: %v)", err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, 500*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after mqcheck exited", a)
		}
	}
}

func readResults(t *testing.T, dir string) *report.Results {
	t.Helper()
	res, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatalf("results.json: %v", err)
	}
	return res
}

var (
	metricsLine = regexp.MustCompile(`metrics at http://([0-9.:]+)/metrics`)
	loopback    = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// TestSIGINTStopsSafely interrupts a run on the embedded Kafka cluster while
// every broker is down (a restart fault): the fault must be healed, the
// brokers and the metrics endpoint stopped, results written whole, exit 3.
func TestSIGINTStopsSafely(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	file := writeScenario(t, `name: sigint
duration: 60s
broker: {kind: kafka, kafka: {brokers: 1, partitions: 2}}
producers: {count: 2, rate: 500/s, message_size: 200}
consumers: {count: 2}
claims: [at-least-once, ordered]
faults: [{kind: restart, at: 2s, for: 40s, node: -1}]
`)
	p := startMQCheck(t, "run", file, "--out", out, "--metrics-addr", "127.0.0.1:0")
	metricsAddr := metricsLine.FindStringSubmatch(p.waitLine(t, metricsLine, 60*time.Second))[1]
	p.waitLine(t, regexp.MustCompile(`FAULT: restart`), 60*time.Second)
	// Well into the outage: publishes pile up unconfirmed.
	time.Sleep(1500 * time.Millisecond)
	interrupted := time.Now()
	p.signal(t, syscall.SIGINT)
	code := p.wait(t, 60*time.Second)
	t.Logf("stopped %s after SIGINT", time.Since(interrupted).Round(time.Millisecond))
	if code != exitInfra {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInfra, p.output())
	}
	res := readResults(t, out)
	if res.Partial {
		t.Error("results.json is still the partial checkpoint")
	}
	if res.Verdict == "pass" || !strings.Contains(res.Error, "interrupted") {
		t.Errorf("verdict %q, error %q: an interrupted run never passes", res.Verdict, res.Error)
	}
	// The embedded cluster keeps everything through a restart and the
	// idempotent producers do not reorder: no claim can fail. A drain the
	// interrupt cut short leaves at-least-once undecided.
	wantALO := "unknown"
	if res.Drain.Complete {
		wantALO = "pass"
	}
	for _, c := range res.Claims {
		want := map[string]string{"at-least-once": wantALO, "ordered": "pass"}[c.Name]
		if c.Verdict != want {
			t.Errorf("claim %s: verdict %q, want %q (drain %+v, counts %+v)", c.Name, c.Verdict, want, res.Drain, res.Counts)
		}
	}
	if len(res.Claims) != 2 {
		t.Errorf("claims %+v, want at-least-once and ordered", res.Claims)
	}
	if res.Counts.Sent == 0 || len(res.Timeline) == 0 {
		t.Errorf("nothing measured: counts %+v, %d timeline rows", res.Counts, len(res.Timeline))
	}
	if len(res.Faults) != 1 || res.Faults[0].EndMS <= res.Faults[0].StartMS || res.Faults[0].EndMS-res.Faults[0].StartMS > 30_000 {
		t.Errorf("faults %+v: want the restart healed at the interrupt, well before its 40s", res.Faults)
	}
	if !strings.Contains(p.output(), "press Ctrl-C again") {
		t.Errorf("no notice of what the interrupt does:\n%s", p.output())
	}
	assertNothingLeft(t, p, append(loopback.FindAllString(res.Target, -1), metricsAddr)...)
}

// TestSecondSignalStopsAtOnce: with confirms 20s late, the first signal
// waits (bounded) for them; the second ends the wait at once and the
// results are still written. SIGTERM first: it means the same as Ctrl-C.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	file := writeScenario(t, `name: twice
duration: 60s
broker: {kind: memory, memory: {ack_latency: 20s}}
producers: {count: 2, rate: 200/s, message_size: 100}
consumers: {count: 2}
`)
	p := startMQCheck(t, "run", file, "--out", out)
	p.waitLine(t, regexp.MustCompile(`^ +1s/60s`), 30*time.Second)
	p.signal(t, syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	second := time.Now()
	p.signal(t, syscall.SIGINT)
	code := p.wait(t, 30*time.Second)
	took := time.Since(second)
	if code != exitInfra {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInfra, p.output())
	}
	// The first signal alone waits up to 5s for the late confirms.
	if took > 4*time.Second {
		t.Errorf("took %s after the second signal; it should stop at once", took)
	}
	res := readResults(t, out)
	if res.Partial || res.Verdict != "unknown" || res.Counts.Sent == 0 {
		t.Errorf("results: partial %v, verdict %s, counts %+v", res.Partial, res.Verdict, res.Counts)
	}
	if res.Counts.Indeterminate == 0 {
		t.Errorf("publishes whose confirm never came should be indeterminate: %+v", res.Counts)
	}
	if !strings.Contains(p.output(), "stopping at once") {
		t.Errorf("no notice for the second signal:\n%s", p.output())
	}
	assertNothingLeft(t, p)
}

// TestSIGKILLLeavesCheckpoint: nothing runs after kill -9, yet the run
// directory holds results: from the start, then every 5s.
func TestSIGKILLLeavesCheckpoint(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	file := writeScenario(t, `name: killed
duration: 60s
broker: {kind: memory}
producers: {count: 2, rate: 500/s, message_size: 100}
consumers: {count: 2}
`)
	p := startMQCheck(t, "run", file, "--out", out)
	p.waitLine(t, regexp.MustCompile(`running killed`), 30*time.Second)
	// Before the first periodic checkpoint there is already a file.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no results.json at the start of the run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The 5s checkpoint follows the 5s progress line.
	p.waitLine(t, regexp.MustCompile(`^ +5s/60s`), 30*time.Second)
	deadline = time.Now().Add(10 * time.Second)
	for {
		res, err := report.ReadFile(filepath.Join(out, "results.json"))
		if err == nil && len(res.Timeline) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint with the first seconds of the timeline (%v):\n%s", err, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.signal(t, syscall.SIGKILL)
	if code := p.wait(t, 10*time.Second); code != -1 {
		t.Logf("exit code %d after SIGKILL", code)
	}
	res := readResults(t, out)
	if !res.Partial || res.Verdict != "unknown" {
		t.Errorf("checkpoint: partial %v, verdict %s; want partial, unknown", res.Partial, res.Verdict)
	}
	if res.Counts.Sent == 0 || len(res.Timeline) < 4 {
		t.Errorf("checkpoint holds little: counts %+v, %d timeline rows", res.Counts, len(res.Timeline))
	}
	assertNothingLeft(t, p)
}
