package proc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asParentEnv makes the test binary a parent that starts a process tree
// through Start and then waits to be killed.
const asParentEnv = "MQCHECK_PROC_TEST_PARENT"

// tree is a child that forks: its grandchildren get no parent-death signal
// of their own, so only the guard can take them down.
var tree = []string{"/bin/sh", "-c", "sleep 300 & sleep 300 & wait"}

func TestMain(m *testing.M) {
	if os.Getenv(asParentEnv) == "1" {
		parent()
		return
	}
	os.Exit(m.Run())
}

// parent starts the tree from a goroutine locked to a thread that then
// exits (as a Go thread may), prints the token and sleeps.
func parent() {
	// The main thread stays with main, so the goroutine below gets a
	// thread of its own, which Go terminates when it exits.
	runtime.LockOSThread()
	type started struct {
		p   *Process
		err error
	}
	ch := make(chan started, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		p, err := Start(exec.Command(tree[0], tree[1:]...), Options{Tag: "test-tree"})
		ch <- started{p, err}
	}()
	s := <-ch
	if s.err != nil {
		fmt.Println("error", s.err)
		os.Exit(1)
	}
	fmt.Println("token", s.p.Token(), s.p.Pid())
	time.Sleep(10 * time.Minute)
}

// waitGone waits (bounded) until nothing carries token.
func waitGone(t *testing.T, token string, within time.Duration) []int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := Running(token)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRunning waits (bounded) until n processes carry token: a shell forks
// its children a moment after it starts.
func waitRunning(token string, n int) []int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := Running(token)
		if len(pids) >= n || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cleanupCarriers is every test's cleanup: whatever carries a token this test
// made goes, whatever the test found.
func cleanupCarriers(t *testing.T, token string) {
	t.Cleanup(func() {
		for _, pid := range Running(token) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// TestKilledParentLeavesNothing: SIGKILL of the process that started a tree
// takes the whole tree down (the child by its parent-death signal, the
// grandchildren through the guard), also when the goroutine that called
// Start had locked its thread and exited long before.
func TestKilledParentLeavesNothing(t *testing.T) {
	state := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), asParentEnv+"=1", StateDirEnv+"="+state)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait()
		close(waited)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("the parent printed nothing within 30s")
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "token" {
		t.Fatalf("parent: %q", line)
	}
	token := f[1]
	cleanupCarriers(t, token)
	// The starting goroutine's thread is gone by now; the tree must not be.
	time.Sleep(300 * time.Millisecond)
	before := waitRunning(token, 4)
	// The child, two sleeps and the guard.
	if len(before) != 4 {
		t.Fatalf("%d processes carry the token (%v), want the child, its two children and the guard", len(before), before)
	}
	recs := readRecords(t, state)
	if len(recs) != 1 || recs[0].Token != token || recs[0].Tag != "test-tree" || recs[0].OwnerPID != cmd.Process.Pid {
		t.Fatalf("records %+v", recs)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if left := waitGone(t, token, 10*time.Second); len(left) > 0 {
		t.Errorf("still running 10s after the parent was killed: %v (of %v)", left, before)
	}
}

func readRecords(t *testing.T, dir string) []Record {
	t.Helper()
	t.Setenv(StateDirEnv, dir)
	recs, err := Records()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestStop: Stop takes the whole group, waits, and removes the record.
func TestStop(t *testing.T) {
	t.Setenv(StateDirEnv, t.TempDir())
	p, err := Start(exec.Command(tree[0], tree[1:]...), Options{Tag: "stop"})
	if err != nil {
		t.Fatal(err)
	}
	cleanupCarriers(t, p.Token())
	if n := len(waitRunning(p.Token(), 4)); n != 4 {
		t.Errorf("%d processes carry the token, want 4", n)
	}
	if recs, _ := Records(); len(recs) != 1 || recs[0].PID != p.Pid() {
		t.Errorf("records %+v, want one for pid %d", recs, p.Pid())
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Stop returned before the child was waited for")
	}
	if left := Running(p.Token()); len(left) > 0 {
		t.Errorf("still running after Stop: %v", left)
	}
	if recs, _ := Records(); len(recs) != 0 {
		t.Errorf("records left after Stop: %+v", recs)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestStopTakesWhatLeftTheGroup: a descendant that made a session and
// process group of its own (RabbitMQ's start script runs an epmd-starter
// VM that way) is gone when Stop returns too: the group's SIGKILL never
// reached it, the token did.
func TestStopTakesWhatLeftTheGroup(t *testing.T) {
	t.Setenv(StateDirEnv, t.TempDir())
	p, err := Start(exec.Command("/bin/sh", "-c", "setsid sleep 300 & sleep 300 & wait"), Options{Tag: "setsid"})
	if err != nil {
		t.Fatal(err)
	}
	cleanupCarriers(t, p.Token())
	// The shell, its two sleeps and the guard.
	if n := len(waitRunning(p.Token(), 4)); n != 4 {
		t.Fatalf("%d processes carry the token, want 4", n)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if left := Running(p.Token()); len(left) > 0 {
		t.Errorf("still running after Stop: %v", left)
	}
}

// TestReap: a sweep stops what carries the token of a record whose owner
// is gone, and nothing else: not the processes of a live owner's record,
// not a process that merely has a recorded pid.
func TestReap(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(StateDirEnv, dir)
	self := os.Getpid()
	selfStart, err := startTicks(self)
	if err != nil {
		t.Fatal(err)
	}
	// Trees started by hand with a token, as a killed mqcheck leaves them.
	startTree := func(token string) *exec.Cmd {
		cmd := exec.Command(tree[0], tree[1:]...)
		cmd.Env = append(os.Environ(), TokenEnv+"="+token)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cleanupCarriers(t, token)
		t.Cleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		})
		return cmd
	}
	orphan, _ := newToken()
	owned, _ := newToken()
	reused, _ := newToken()
	o := startTree(orphan)
	w := startTree(owned)
	// A process whose pid a record names, without the record's token: a
	// pid reused since.
	bystander := exec.Command("sleep", "300")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = bystander.Process.Kill()
		_ = bystander.Wait()
	})
	write := func(token string, pid int, ownerStart uint64) {
		start, _ := startTicks(pid)
		b, _ := json.Marshal(Record{Token: token, PID: pid, Start: start, BootID: bootID(), OwnerPID: self, OwnerStart: ownerStart})
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d-%s.json", pid, token[:8])), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(orphan, o.Process.Pid, selfStart+1) // its owner is gone (another start time)
	write(owned, w.Process.Pid, selfStart)    // its owner is this test
	write(reused, bystander.Process.Pid, 0)
	waitRunning(orphan, 3)
	waitRunning(owned, 3)
	left, err := Reap()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 3 {
		t.Errorf("stopped %+v, want the orphan tree's 3 processes", left)
	}
	if l := waitGone(t, orphan, 5*time.Second); len(l) > 0 {
		t.Errorf("the orphan tree still runs: %v", l)
	}
	if n := len(Running(owned)); n != 3 {
		t.Errorf("%d processes of a live owner's tree run, want 3 untouched", n)
	}
	if !running(bystander.Process.Pid) {
		t.Error("a process that only has a recorded pid was killed")
	}
	recs, _ := Records()
	if len(recs) != 1 || recs[0].Token != owned {
		t.Errorf("records left %+v, want only the live owner's", recs)
	}
}
