package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// ErrExited: the process ended before it took connections (another took
// its port, a bad configuration).
var ErrExited = errors.New("exited while starting")

// WaitListening waits until addr takes TCP connections, polling every
// poll. It returns ErrExited when p ends first, and ctx's error when ctx
// ends first; either way p is left running for the caller to stop.
func WaitListening(ctx context.Context, p *Process, addr string, poll time.Duration) error {
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.Done():
			return ErrExited
		case <-ctx.Done():
			return fmt.Errorf("nothing listened on %s: %w", addr, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Terminate ends p: when graceful, SIGTERM first and up to wait for it to
// exit; then Stop (SIGKILL to the group), always waited for. A paused
// process is let go on first, as SIGTERM could not reach it.
func (p *Process) Terminate(graceful bool, wait time.Duration) error {
	if graceful {
		_ = p.Signal(syscall.SIGCONT)
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.Done():
		case <-time.After(wait):
		}
	}
	return p.Stop(wait)
}
