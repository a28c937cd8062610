package proc

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
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
