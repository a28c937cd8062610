// Package proc starts the private servers mqcheck runs (RabbitMQ nodes and
// their epmd, later NATS, Redis, Mosquitto) so that none outlives mqcheck.
//
// Three lines of defence keep a killed mqcheck (kill -9, OOM) from leaving a
// server running:
//
//   - the child gets a parent-death signal (SIGKILL), set from one OS
//     thread that lives as long as mqcheck: Linux sends it when the thread
//     that forked the child exits, not the process;
//   - the child runs in a process group of its own, and a guard joins that
//     group: a shell blocked reading a pipe only mqcheck holds. When
//     mqcheck dies the pipe closes and the guard kills the whole group, so
//     whatever the child forked (a start script's VM and its helpers) goes
//     too;
//   - every start is recorded in a state directory with a random token that
//     the child and all its descendants carry in their environment. The
//     next Start (in any later mqcheck) stops leftovers of records whose
//     owner is gone: only processes that carry the token, so a reused pid is
//     never touched.
package proc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// TokenEnv is the environment variable that marks a process (and everything
// it starts) as started by mqcheck under one record.
const TokenEnv = "MQCHECK_PROC"

// Options of Start.
type Options struct {
	// Tag says what the process is (a node name), for the record and logs.
	Tag string
	// Log receives what the leftover sweep stopped; nil discards.
	Log *slog.Logger
}

// Process is a started child and its process group.
type Process struct {
	cmd    *exec.Cmd
	guard  *exec.Cmd
	pipe   *os.File // write end of the guard's stdin: closed, the guard kills the group
	token  string
	record string

	done      chan struct{} // closed once the child was waited for
	guardDone chan struct{}
	err       error // the child's Wait error, set before done closes

	once    sync.Once
	stopErr error
}

// Start starts cmd in a process group of its own, with a parent-death
// signal and a guard, records it, and always waits for it. cmd.SysProcAttr
// and cmd.Env are extended, not replaced; cmd.Env nil means os.Environ().
// A *os.File given as Stdout or Stderr may be closed once Start returns.
func Start(cmd *exec.Cmd, o Options) (*Process, error) {
	reapOnce.Do(func() { reapLeftovers(o.Log) })
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env[:len(env):len(env)], TokenEnv+"="+token)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	killWithParent(cmd.SysProcAttr)
	if err := onLockedThread(cmd.Start); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, token: token, done: make(chan struct{}), guardDone: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := p.startGuard(); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		close(p.guardDone)
		return nil, fmt.Errorf("starting the guard of %s: %w", cmd.Path, err)
	}
	rec, err := writeRecord(p, o.Tag)
	if err != nil && o.Log != nil {
		// The first two lines of defence still hold; only the sweep of a
		// later run will not know this process.
		o.Log.Warn("recording a started process", "pid", cmd.Process.Pid, "err", err)
	}
	p.record = rec
	return p, nil
}

// guardScript waits for its stdin to close (mqcheck is gone, or Stop) and
// kills its process group: the child and whatever it started.
const guardScript = "read _; kill -KILL 0"

func (p *Process) startGuard() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	g := exec.Command("/bin/sh", "-c", guardScript)
	g.Stdin = r
	g.Env = []string{"PATH=/usr/bin:/bin", TokenEnv + "=" + p.token}
	g.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: p.cmd.Process.Pid}
	err = g.Start()
	r.Close()
	if err != nil {
		w.Close()
		return err
	}
	p.guard, p.pipe = g, w
	go func() {
		_ = g.Wait()
		close(p.guardDone)
	}()
	return nil
}

// Pid is the child's pid, which is also its process group's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Token is the value of TokenEnv in the child's environment.
func (p *Process) Token() string { return p.token }

// Done is closed once the child has exited and was waited for.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the child's exit error; valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the child only (a start script that stops its VM on
// SIGTERM).
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return p.cmd.Process.Signal(sig)
}

// Stop kills the process group (the child, what it started and the guard)
// with SIGKILL, waits for the child and the guard for at most wait, and
// removes the record. It may be called more than once; later calls return
// the first call's result.
func (p *Process) Stop(wait time.Duration) error {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		// Closing the pipe makes the guard kill the group as well, should
		// the child have left it.
		p.pipe.Close()
		t := time.NewTimer(wait)
		defer t.Stop()
		for _, ch := range []chan struct{}{p.done, p.guardDone} {
			select {
			case <-ch:
			case <-t.C:
				p.stopErr = fmt.Errorf("%s (pid %d) survived SIGKILL for %s", p.cmd.Path, p.cmd.Process.Pid, wait)
				return
			}
		}
		// The child's own children (a start script's VM) got the same
		// SIGKILL, but it takes effect when each is next scheduled, and a
		// descendant that made a process group of its own (RabbitMQ's
		// epmd-starter VM) got none: every process carrying the token is
		// killed, and Stop returns once none runs, so that a caller that
		// looks finds nothing.
		if n := killCarriers(p.token, t.C); n > 0 {
			p.stopErr = fmt.Errorf("%d processes started by %s (pid %d) survived SIGKILL for %s", n, p.cmd.Path, p.cmd.Process.Pid, wait)
			return
		}
		if p.record != "" {
			if err := os.Remove(p.record); err != nil && !errors.Is(err, os.ErrNotExist) {
				p.stopErr = fmt.Errorf("removing the record of pid %d: %w", p.cmd.Process.Pid, err)
			}
		}
	})
	return p.stopErr
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making a process token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// starts runs functions on one goroutine locked to its OS thread for ever:
// a child's parent-death signal fires when the thread that forked it
// exits, and Go may end a thread under any goroutine that was locked to it.
var starts = struct {
	once sync.Once
	ch   chan func()
}{ch: make(chan func())}

func onLockedThread(f func() error) error {
	starts.once.Do(func() {
		go func() {
			runtime.LockOSThread()
			// Never unlocked and never returns: the thread lives as long
			// as the process.
			for fn := range starts.ch {
				fn()
			}
		}()
	})
	errc := make(chan error, 1)
	starts.ch <- func() { errc <- f() }
	return <-errc
}
