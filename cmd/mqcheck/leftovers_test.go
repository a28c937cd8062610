package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	iproc "github.com/mqcheck/mqcheck/internal/proc"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// running is a process that runs (a zombie holds nothing: PID 1 here may
// never reap what a killed mqcheck left).
type running struct {
	pid  int
	comm string
}

func (r running) String() string { return fmt.Sprintf("%d (%s)", r.pid, r.comm) }

// processesUnder lists running processes whose working directory is under
// dir: a private node's sh, its VM and helpers, and its epmd run in the
// node's directory inside the run directory.
func processesUnder(dir string) []running {
	procs, err := procfs.AllProcs()
	if err != nil {
		return nil
	}
	var out []running
	for _, p := range procs {
		cwd, err := p.Cwd()
		if err != nil || !strings.HasPrefix(cwd, dir+string(filepath.Separator)) && cwd != dir {
			continue
		}
		st, err := p.Stat()
		if err != nil || st.State == "Z" || st.State == "X" {
			continue
		}
		out = append(out, running{p.PID, st.Comm})
	}
	return out
}

// carriers lists running processes that carry the token of a record in
// state: whatever mqcheck started through internal/proc, with descendants.
func carriers(t *testing.T, state string) []running {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(state, "*.json"))
	var out []running
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // removed meanwhile
		}
		var r iproc.Record
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, pid := range iproc.Running(r.Token) {
			if p, err := procfs.NewProc(pid); err == nil {
				comm, _ := p.Comm()
				out = append(out, running{pid, comm})
			}
		}
	}
	return out
}

// TestSIGKILLLeavesNoBroker: mqcheck killed with -9 while its private
// RabbitMQ node boots, and again in the middle of the load, leaves no
// process of the node behind (start script, Erlang VM and its helpers,
// epmd): the node goes with mqcheck, within seconds, without any later run
// sweeping it up.
func TestSIGKILLLeavesNoBroker(t *testing.T) {
	requireRabbitMQ(t)
	file := writeScenario(t, `name: killed-rabbitmq
duration: 60s
broker: {kind: rabbitmq, target: exec}
producers: {count: 1, rate: 500/s, message_size: 100}
consumers: {count: 1}
`)
	for _, tt := range []struct {
		name string
		// when the kill comes
		wait func(t *testing.T, p *proc, out string)
	}{
		{"during boot", func(t *testing.T, p *proc, out string) {
			// The VM is up and booting: well before it takes connections.
			deadline := time.Now().Add(60 * time.Second)
			for !hasComm(processesUnder(out), "beam.smp") {
				if time.Now().After(deadline) {
					t.Fatalf("no Erlang VM in %s within 60s:\n%s", out, p.output())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}},
		{"mid-load", func(t *testing.T, p *proc, out string) {
			p.waitLine(t, regexp.MustCompile(`^ +5s/60s`), 2*time.Minute)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, state := t.TempDir(), t.TempDir()
			p := startMQCheckIn(t, "", []string{iproc.StateDirEnv + "=" + state}, "run", file, "--out", out)
			// Whatever the test finds, nothing it made outlives it.
			t.Cleanup(func() {
				for _, r := range append(processesUnder(out), carriers(t, state)...) {
					_ = syscall.Kill(r.pid, syscall.SIGKILL)
				}
			})
			tt.wait(t, p, out)
			before := processesUnder(out)
			recorded := carriers(t, state)
			t.Logf("before the kill: %v in the run directory; %v carry a recorded token", before, recorded)
			if !hasComm(before, "epmd") || !hasComm(before, "beam.smp") {
				t.Fatalf("want epmd and the VM running before the kill, have %v", before)
			}
			p.signal(t, syscall.SIGKILL)
			p.wait(t, 10*time.Second)
			var left []running
			deadline := time.Now().Add(20 * time.Second)
			for {
				left = append(processesUnder(out), carriers(t, state)...)
				if len(left) == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(left) > 0 {
				t.Errorf("still running 20s after mqcheck was killed: %v", left)
			}
			if len(recorded) < len(before) {
				t.Errorf("only %v of %v carry a recorded token: a later run could not prove them its own", recorded, before)
			}
		})
	}
}

// requireRabbitMQ fails a test that needs a private RabbitMQ node where
// none can be started, as the broker packages' tests do, unless
// MQCHECK_SKIP_BROKERS names rabbitmq: then it skips.
func requireRabbitMQ(t *testing.T) {
	t.Helper()
	testenv.Require(t, "rabbitmq", rabbitmq.Installed())
}

func hasComm(rs []running, comm string) bool {
	for _, r := range rs {
		if r.comm == comm {
			return true
		}
	}
	return false
}

// TestNextRunStopsLeftovers: what a killed mqcheck left running (here a
// process tree that carries a record's token, its owner gone) is stopped
// by the next run that starts a private server, and reported.
func TestNextRunStopsLeftovers(t *testing.T) {
	requireRabbitMQ(t)
	state := t.TempDir()
	const token = "0123456789abcdef0123456789abcdef"
	leftover := startDetached(t, token)
	rec := fmt.Sprintf(`{"token": %q, "pid": %d, "tag": "mqcheck-dead@localhost", "argv": ["sh"], "start_ticks": 0, "boot_id": %q, "owner_pid": %d, "owner_start_ticks": 1, "created": "x"}`,
		token, leftover, bootID(t), os.Getpid())
	if err := os.WriteFile(filepath.Join(state, fmt.Sprintf("%d-%s.json", leftover, token[:8])), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeScenario(t, `name: next-run
duration: 1s
broker: {kind: rabbitmq, target: exec}
producers: {count: 1, rate: 100/s, message_size: 100}
consumers: {count: 1}
`)
	p := startMQCheckIn(t, "", []string{iproc.StateDirEnv + "=" + state}, "run", file, "--out", t.TempDir())
	code := p.wait(t, 3*time.Minute)
	if code != exitPass {
		t.Errorf("exit %d:\n%s", code, p.output())
	}
	if left := iproc.Running(token); len(left) > 0 {
		t.Errorf("the leftover tree still runs: %v", left)
	}
	if !strings.Contains(p.output(), "left running by an earlier mqcheck") {
		t.Errorf("no word about the leftovers it stopped:\n%s", p.output())
	}
}

// startDetached starts a process tree carrying token whose parent is gone,
// as a killed mqcheck leaves one, and returns the tree's first pid.
func startDetached(t *testing.T, token string) int {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The outer shell exits at once; the inner one runs on, reparented.
	cmd := exec.Command("/bin/sh", "-c", `sh -c 'sleep 300 & echo $$ > "$1"; wait' sh "$1" &`, "sh", pidFile)
	cmd.Env = append(os.Environ(), iproc.TokenEnv+"="+token)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range iproc.Running(token) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(pidFile)
		var pid int
		if err == nil && len(iproc.Running(token)) == 2 {
			if _, err := fmt.Sscanf(string(b), "%d", &pid); err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the detached tree did not start: %v", iproc.Running(token))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bootID(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
