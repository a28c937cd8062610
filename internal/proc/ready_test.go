package proc

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWaitListening: a listening address is found, an exited process is
// ErrExited, and an address nobody opens ends with ctx.
func TestWaitListening(t *testing.T) {
	t.Setenv(StateDirEnv, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	closedPort := ln.Addr().(*net.TCPAddr).Port
	sleeper, err := Start(exec.Command("sleep", "30"), Options{Tag: "sleeper"})
	if err != nil {
		t.Fatal(err)
	}
	defer sleeper.Stop(5 * time.Second)
	ctx := context.Background()
	if err := WaitListening(ctx, sleeper, open, 10*time.Millisecond); err != nil {
		t.Errorf("listening address: %v", err)
	}
	ln.Close()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := WaitListening(short, sleeper, "127.0.0.1:"+strconv.Itoa(closedPort), 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("closed address: %v, want the deadline", err)
	}
	quitter, err := Start(exec.Command("sleep", "0.3"), Options{Tag: "quitter"})
	if err != nil {
		t.Fatal(err)
	}
	defer quitter.Stop(5 * time.Second)
	if err := WaitListening(ctx, quitter, "127.0.0.1:"+strconv.Itoa(closedPort), 10*time.Millisecond); !errors.Is(err, ErrExited) {
		t.Errorf("exited process: %v, want ErrExited", err)
	}
}

// TestTerminate: graceful ends a process that takes SIGTERM without the
// SIGKILL's wait; either way it is waited for.
func TestTerminate(t *testing.T) {
	t.Setenv(StateDirEnv, t.TempDir())
	for _, graceful := range []bool{true, false} {
		p, err := Start(exec.Command("sleep", "30"), Options{Tag: "terminate"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Terminate(graceful, 5*time.Second); err != nil {
			t.Errorf("graceful %v: %v", graceful, err)
		}
		select {
		case <-p.Done():
		default:
			t.Errorf("graceful %v: Terminate returned before the process was waited for", graceful)
		}
	}
}

// TestSlot: a slot gives back what was set, and Terminate empties it
// and ends the process once.
func TestSlot(t *testing.T) {
	t.Setenv(StateDirEnv, t.TempDir())
	var s Slot
	if s.Get() != nil || s.Terminate(false, time.Second) != nil {
		t.Fatal("an empty slot holds something")
	}
	p, err := Start(exec.Command("sleep", "30"), Options{Tag: "slot"})
	if err != nil {
		t.Fatal(err)
	}
	s.Set(p)
	if s.Get() != p {
		t.Error("Get is not what was set")
	}
	if err := s.Terminate(true, 5*time.Second); err != nil {
		t.Error(err)
	}
	if s.Get() != nil {
		t.Error("Terminate left the process in the slot")
	}
}

// TestTail: the end of the files together, or "no output".
func TestTail(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if got := Tail(a, b); got != "no output" {
		t.Errorf("missing files: %q", got)
	}
	_ = os.WriteFile(a, []byte("first\n"), 0o644)
	_ = os.WriteFile(b, []byte(strings.Repeat("x", 2000)+"last\n"), 0o644)
	if got := Tail(a, b); len(got) != 1499 || !strings.HasSuffix(got, "xlast") {
		t.Errorf("Tail = %d bytes ending %q", len(got), got[len(got)-10:])
	}
}
