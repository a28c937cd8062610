package proc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// StateDirEnv overrides where records are kept (tests use their own).
const StateDirEnv = "MQCHECK_STATE_DIR"

// StateDir is where records of started processes are kept:
// $MQCHECK_STATE_DIR, else $XDG_STATE_HOME/mqcheck/processes, else
// ~/.local/state/mqcheck/processes.
func StateDir() string {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "mqcheck", "processes")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "mqcheck", "processes")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("mqcheck-%d", os.Getuid()), "processes")
}

// Record is what the state directory holds about one started process.
type Record struct {
	Token string   `json:"token"`
	PID   int      `json:"pid"`
	Tag   string   `json:"tag,omitempty"`
	Argv  []string `json:"argv"`
	// Start is the child's start time in clock ticks since boot (from
	// /proc/PID/stat), BootID the boot it belongs to: together with the
	// token they tell the process from any later one with its pid.
	Start  uint64 `json:"start_ticks"`
	BootID string `json:"boot_id"`
	// Owner is the mqcheck that started it, with its own start time: while
	// that process lives, the record is not a leftover.
	OwnerPID   int    `json:"owner_pid"`
	OwnerStart uint64 `json:"owner_start_ticks"`
	Created    string `json:"created"`
}

func writeRecord(p *Process, tag string) (string, error) {
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	pid := p.cmd.Process.Pid
	start, _ := startTicks(pid)
	owner := os.Getpid()
	ownerStart, _ := startTicks(owner)
	rec := Record{Token: p.token, PID: pid, Tag: tag, Argv: p.cmd.Args, Start: start, BootID: bootID(),
		OwnerPID: owner, OwnerStart: ownerStart, Created: time.Now().UTC().Format(time.RFC3339Nano)}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%d-%s.json", pid, p.token[:8]))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, nil
}

// Records reads every record in the state directory.
func Records() ([]Record, error) {
	dir := StateDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, f := range files {
		r, err := readRecord(f)
		if err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func readRecord(path string) (Record, error) {
	var r Record
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Token) != 32 {
		return r, fmt.Errorf("%s: no token", path)
	}
	return r, nil
}

// Leftover is a process a sweep stopped.
type Leftover struct {
	PID  int
	Comm string
	Tag  string
}

var reapOnce sync.Once

func reapLeftovers(log *slog.Logger) {
	left, err := Reap()
	if log == nil {
		return
	}
	if err != nil {
		log.Warn("looking for processes left by an earlier mqcheck", "err", err)
	}
	for _, l := range left {
		log.Warn("stopped a process left running by an earlier mqcheck that was killed", "pid", l.PID, "command", l.Comm, "tag", l.Tag)
	}
}

// reapWait bounds how long a sweep waits for what it killed to go.
const reapWait = 10 * time.Second

// Reap stops the leftovers of every record whose owner is gone, and removes
// those records. A process is stopped only when it carries the record's
// token in its environment and started no earlier than the recorded child:
// a pid reused by anything else is never touched. Records of a live owner
// (another mqcheck running now) are left alone.
func Reap() ([]Leftover, error) {
	dir := StateDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	boot := bootID()
	var stale []Record
	var stalePaths []string
	var errs []error
	for _, f := range files {
		r, err := readRecord(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.BootID == boot && alive(r.OwnerPID, r.OwnerStart) {
			continue
		}
		stale = append(stale, r)
		stalePaths = append(stalePaths, f)
	}
	if len(stale) == 0 {
		return nil, errors.Join(errs...)
	}
	var left []Leftover
	procs, err := procfs.AllProcs()
	if err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("listing processes: %w", err))...)
	}
	for _, p := range procs {
		r, ok := carrier(p, stale, boot)
		if !ok {
			continue
		}
		comm, _ := p.Comm()
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err == nil {
			left = append(left, Leftover{PID: p.PID, Comm: comm, Tag: r.Tag})
		}
	}
	deadline := time.Now().Add(reapWait)
	for _, l := range left {
		for running(l.PID) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if running(l.PID) {
			errs = append(errs, fmt.Errorf("leftover pid %d (%s) survived SIGKILL", l.PID, l.Comm))
		}
	}
	for _, f := range stalePaths {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return left, errors.Join(errs...)
}

// carrier reports the stale record p belongs to: p runs (not a zombie),
// carries the record's token, and started no earlier than its child.
func carrier(p procfs.Proc, stale []Record, boot string) (Record, bool) {
	st, err := p.Stat()
	if err != nil || st.State == "Z" || st.State == "X" {
		return Record{}, false
	}
	env, err := p.Environ()
	if err != nil {
		return Record{}, false
	}
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, TokenEnv+"=")
		if !ok {
			continue
		}
		for _, r := range stale {
			if r.Token == v && r.BootID == boot && st.Starttime >= r.Start {
				return r, true
			}
		}
	}
	return Record{}, false
}

// alive reports whether pid runs and is the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	p, err := procfs.NewProc(pid)
	if err != nil {
		return false
	}
	st, err := p.Stat()
	return err == nil && st.State != "Z" && st.State != "X" && st.Starttime == start
}

// running reports whether pid exists and is not a zombie (PID 1 may never
// reap an orphan: its zombie holds nothing).
func running(pid int) bool {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return false
	}
	st, err := p.Stat()
	return err == nil && st.State != "Z" && st.State != "X"
}

// Running lists the pids of running processes that carry token, for tests
// that check nothing is left.
func Running(token string) []int {
	procs, err := procfs.AllProcs()
	if err != nil {
		return nil
	}
	var out []int
	for _, p := range procs {
		if !running(p.PID) {
			continue
		}
		env, err := p.Environ()
		if err != nil {
			continue
		}
		for _, kv := range env {
			if kv == TokenEnv+"="+token {
				out = append(out, p.PID)
				break
			}
		}
	}
	return out
}

func startTicks(pid int) (uint64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, err
	}
	return st.Starttime, nil
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// killCarriers kills every running process that carries token, until none
// runs (dead ones the init process has not reaped yet are zombies and do
// not count) or timeout fires, and returns how many still run.
func killCarriers(token string, timeout <-chan time.Time) int {
	for {
		pids := Running(token)
		if len(pids) == 0 {
			return 0
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-timeout:
			return len(Running(token))
		case <-time.After(10 * time.Millisecond):
		}
	}
}
