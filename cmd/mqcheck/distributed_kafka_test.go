package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/freeport"
	"github.com/mqcheck/mqcheck/report"
)

// kfakeProcess is a Kafka cluster (kfake) in a process of its own, which
// the scenario's restart fault stops (restart_command) and starts again on
// the same ports and data directory (heal_command): a broker mqcheck did
// not start, restarted by the user's commands.
type kfakeProcess struct {
	url           string
	stop, restart []string
	logfile       string
}

// log is the server's log, for a test that failed on it.
func (k *kfakeProcess) log() string {
	b, err := os.ReadFile(k.logfile)
	if err != nil {
		return fmt.Sprintf("(no kfake log: %v)", err)
	}
	return "--- kfake log:\n" + string(b)
}

// startKfake starts a 3-broker kfake cluster on free ports, persisted in a
// directory of the test's, from this test binary (kfakeEnv), and kills it
// by its process id at cleanup, whichever process started it last.
func startKfake(t *testing.T) *kfakeProcess {
	t.Helper()
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "kfake.pid")
	t.Cleanup(func() {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return // stopped, or never started
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	var ports []string
	picked, err := freeport.Pick(3)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, p := range picked {
		ports = append(ports, strconv.Itoa(p))
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	// As commands run without a shell: env sets the variable that makes
	// the test binary kfakeserver.
	self := []string{"env", kfakeEnv + "=1", os.Args[0]}
	logfile := filepath.Join(dir, "kfake.log")
	k := &kfakeProcess{url: strings.Join(addrs, ","), logfile: logfile,
		stop: append(slices.Clone(self), "-stop", "-pidfile", pidfile),
		restart: append(slices.Clone(self), "-detach", "-ports", strings.Join(ports, ","), "-data-dir", filepath.Join(dir, "data"),
			"-pidfile", pidfile, "-log", logfile)}
	cmd := exec.Command(k.restart[0], k.restart[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("starting kfakeserver: %v\n%s\n%s", err, out, k.log())
	}
	return k
}

// kafkaRestartScenario: 3 producers at 600/s for 4 s against the cluster
// k, one consumer group of 3, and the cluster stopped at 1.5 s and started
// again a second later by worker 1's commands.
func kafkaRestartScenario(k *kfakeProcess) string {
	q := func(argv []string) string {
		var out []string
		for _, a := range argv {
			out = append(out, strconv.Quote(a))
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	return fmt.Sprintf(`name: split-kafka-restart
duration: 4s
seed: 5
drain_timeout: 30s
drain_settle: 1s
broker: {kind: kafka, target: url, url: %q}
producers: {count: 3, rate: 600/s, message_size: 100}
consumers: {count: 3}
claims: [at-least-once, at-most-once, ordered]
faults:
  - {kind: restart, at: 1500ms, for: 1s, worker: 1, command_timeout: 40s, restart_command: %s, heal_command: %s}
`, k.url, q(k.stop), q(k.restart))
}

// restartCommandFailed is in the error of a run whose restart commands
// failed (an infrastructure error, exit 3).
const restartCommandFailed = "fault restart by command"

// startKafkaWorkers starts the three workers of one split run of file,
// each writing to a directory of its own under base, at one start time.
func startKafkaWorkers(t *testing.T, file, base string) ([]*proc, []string) {
	t.Helper()
	runID := "kafka-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	// Process start-up is slow under the race detector: the barrier
	// leaves time for all three.
	startAt := time.Now().Add(6 * time.Second).UTC().Format(time.RFC3339)
	var procs []*proc
	var dirs []string
	for i := range 3 {
		dir := filepath.Join(base, fmt.Sprintf("w%d", i))
		procs = append(procs, startMQCheckIn(t, "", nil, "run", file, "--worker", fmt.Sprintf("%d/3", i), "--run-id", runID,
			"--start-at", startAt, "--out", dir, "-q"))
		dirs = append(dirs, dir)
	}
	return procs, dirs
}

// waitKafkaWorkers waits for every worker, which must pass, and returns
// the first worker that failed with retryable in its output instead
// (-1: none; an empty retryable retries nothing).
func waitKafkaWorkers(t *testing.T, procs []*proc, retryable string) int {
	t.Helper()
	failed := -1
	for i, p := range procs {
		code := p.wait(t, 90*time.Second)
		switch {
		case code == exitPass:
		case code == exitInfra && retryable != "" && strings.Contains(p.output(), retryable):
			if failed < 0 {
				failed = i
			}
		default:
			t.Fatalf("worker %d: exit %d\n%s", i, code, p.output())
		}
	}
	return failed
}

// TestWorkersProcessesKafkaRestart is the real-process known answer of a
// split run: three mqcheck processes, workers of one run, against one
// Kafka cluster in a process of its own, which worker 1 restarts (stops,
// and starts again on the same ports and data: records and committed
// offsets survive); beside them one process runs the same scenario with
// the same restart against a cluster of its own. The merged counts are the
// workers' added (every message sent once, received at least once, none
// unexpected), every copy received past the first is one duplicate, also
// one that consumers of two workers in the group received (the restart's
// rebalance hands a partition to another worker's consumer, which reads
// again from the last commit), and every claim's verdict is the single
// process's. Workers 0 and 2 mark the restart as worker 1's; the merge
// lists it once.
func TestWorkersProcessesKafkaRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("four mqcheck runs against two kfake processes")
	}
	split, single := startKfake(t), startKfake(t)
	file := writeScenario(t, kafkaRestartScenario(split))
	singleFile := writeScenario(t, kafkaRestartScenario(single))
	base := t.TempDir()
	// The split run's workers start at once; the single process meanwhile,
	// in this one.
	procs, dirs := startKafkaWorkers(t, file, filepath.Join(base, "split"))
	singleDir := filepath.Join(base, "single")
	code, _, stderr := mqcheck(t, "run", singleFile, "--out", singleDir, "-q")
	if code == exitInfra && strings.Contains(stderr, restartCommandFailed) {
		// The restart's own commands did not finish (a full CI run saw
		// the stop command killed mid-save, and the start then refused
		// the pidfile left behind): that measured the machine, not the
		// merge. Once more, on a cluster of its own.
		t.Logf("single process: the restart's commands failed; once more on a fresh cluster:\n%s\n%s", stderr, single.log())
		singleFile = writeScenario(t, kafkaRestartScenario(startKfake(t)))
		singleDir = filepath.Join(base, "single-again")
		code, _, stderr = mqcheck(t, "run", singleFile, "--out", singleDir, "-q")
	}
	if code != exitPass && code != exitFail {
		t.Fatalf("single process: exit %d\n%s", code, stderr)
	}
	one, err := report.ReadFile(filepath.Join(singleDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if failed := waitKafkaWorkers(t, procs, restartCommandFailed); failed >= 0 {
		// The same for the split run: worker 1 runs the commands.
		t.Logf("worker %d: the restart's commands failed; the split run once more on a fresh cluster:\n%s\n%s",
			failed, procs[failed].output(), split.log())
		procs, dirs = startKafkaWorkers(t, writeScenario(t, kafkaRestartScenario(startKfake(t))), filepath.Join(base, "split-again"))
		waitKafkaWorkers(t, procs, "")
	}
	var workers []*report.Results
	var sent, acked, received, ownDups, ownNoPos uint64
	for i := range procs {
		w, err := report.ReadFile(filepath.Join(dirs[i], "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
		c := w.Counts
		sent, acked, received, ownDups = sent+c.Sent, acked+c.Acked, received+c.Received, ownDups+c.Duplicated
		ownNoPos += c.DuplicatedPositionUnknown
		t.Logf("worker %d: sent %d, received %d, %d duplicated within it", i, c.Sent, c.Received, c.Duplicated)
	}
	out := filepath.Join(base, "merged")
	code, stdout, stderr := mqcheck(t, append(append([]string{"merge"}, dirs...), "--out", out)...)
	r, err := report.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("merge: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if want := map[string]int{checker.Pass: exitPass, checker.Fail: exitFail}[r.Verdict]; code != want {
		t.Errorf("merge exit %d for verdict %s", code, r.Verdict)
	}

	// Counts: the sum, exactly; every copy past the first one duplicate.
	c := r.Counts
	const intended = 2400 // 4 s at 600/s
	if c.Sent != sent || c.Sent != intended || c.Acked != acked || c.Received != received {
		t.Errorf("merged sent %d, acked %d, received %d; the workers' sum %d, %d, %d; intended %d",
			c.Sent, c.Acked, c.Received, sent, acked, received, intended)
	}
	if c.Unexpected != 0 || c.Unique+c.Lost != c.Acked || c.Received != c.Unique+c.Duplicated {
		t.Errorf("merged counts %+v: none unexpected, every acked message received or lost, every extra copy a duplicate", pickCounts(c))
	}
	// Every merged duplicate is explained: one a worker found among its own
	// consumers' receipts, or one the merge found, a message received by
	// consumers of two workers (no storage position then: the merge has
	// only the sets).
	across := c.DuplicatedPositionUnknown - min(c.DuplicatedPositionUnknown, ownNoPos)
	t.Logf("merged: %d duplicated, %d of them received by consumers of two workers (found only by the merge); single process: %d duplicated",
		c.Duplicated, across, one.Counts.Duplicated)
	if c.Duplicated != ownDups+across {
		t.Errorf("merged duplicated %d: the workers found %d within themselves and the merge %d across them", c.Duplicated, ownDups, across)
	}

	// The verdict, claim by claim, is the single process's.
	verdicts := func(r *report.Results) map[string]string {
		m := map[string]string{}
		for _, cl := range r.Claims {
			m[cl.Name] = cl.Verdict
		}
		return m
	}
	// Whether the restart's rebalance re-reads anything (duplicates, so
	// at-most-once fails) is the broker's chance, in either run alike: 0
	// merged duplicates was seen once in a full CI run beside 587 single.
	// So at-most-once must follow each run's own duplicates, and the
	// other claims, which the restart must not change, equal the single
	// process's.
	got, want := verdicts(r), verdicts(one)
	for _, x := range []struct {
		r   *report.Results
		got map[string]string
	}{{r, got}, {one, want}} {
		if v := map[bool]string{true: checker.Fail, false: checker.Pass}[x.r.Counts.Duplicated > 0]; x.got["at-most-once"] != v {
			t.Errorf("at-most-once %s with %d duplicated", x.got["at-most-once"], x.r.Counts.Duplicated)
		}
	}
	delete(got, "at-most-once")
	delete(want, "at-most-once")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merged verdicts %v, single process %v", got, want)
	}
	if one.Counts.Lost != 0 || c.Lost != 0 {
		t.Errorf("lost: merged %d, single %d: the restart keeps every record (data dir)", c.Lost, one.Counts.Lost)
	}

	// The fault: run by worker 1, told to 0 and 2, listed once merged.
	for i, w := range workers {
		told := i != 1
		if len(w.Faults) != 1 || w.Faults[0].Elsewhere != told || w.Faults[0].Worker == nil || *w.Faults[0].Worker != 1 || w.Faults[0].Error != "" {
			t.Errorf("worker %d faults %+v, want the restart on worker 1 (told: %v)", i, w.Faults, told)
			continue
		}
		marked := false
		for _, row := range w.Timeline {
			marked = marked || slices.Contains(row.Faults, map[bool]string{true: "restart (on worker 1)", false: w.Faults[0].Target}[told])
		}
		if !marked {
			t.Errorf("worker %d: no timeline row marks the restart", i)
		}
	}
	if len(r.Faults) != 1 || r.Faults[0].Elsewhere || r.Faults[0].Worker == nil || *r.Faults[0].Worker != 1 ||
		!strings.HasPrefix(r.Faults[0].Target, "restart by command") {
		t.Errorf("merged faults %+v, want worker 1's restart once", r.Faults)
	}
	for _, row := range r.Timeline {
		if slices.Contains(row.Faults, "restart (on worker 1)") {
			t.Errorf("merged timeline row %d names the restart as told: %v", row.T, row.Faults)
		}
	}
	starts := 0
	for _, n := range r.Notices {
		if n.Kind == "fault-start" {
			starts++
		}
	}
	if starts != 1 {
		t.Errorf("merged notices have %d fault starts, want worker 1's one", starts)
	}
	// A worker blames no lost messages on a fault (what it did not
	// receive, another worker may have); the merge blames them from the
	// merged state: none here.
	for i, w := range workers {
		if len(w.Faults) == 1 && w.Faults[0].Anomalies.Lost != 0 {
			t.Errorf("worker %d blames %d lost messages on the restart", i, w.Faults[0].Anomalies.Lost)
		}
	}
	if len(r.Faults) == 1 && r.Faults[0].Anomalies.Lost != c.Lost {
		t.Errorf("merged restart: %d lost, the merged run %d", r.Faults[0].Anomalies.Lost, c.Lost)
	}
	// The merged summary gives end-to-end latency its clock bound.
	if b, err := os.ReadFile(filepath.Join(out, "summary.md")); err != nil || !strings.Contains(string(b), "| end-to-end ±") {
		t.Errorf("merged summary.md shows no clock bound next to end-to-end latency (%v):\n%s", err, b)
	}
}
