package chaos

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// blackHole listens with a backlog of one and never accepts, then fills
// the queue: a further dial's SYN is dropped, and the dial waits, as one
// to a container's port does while its network is torn down.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "black-hole")
	t.Cleanup(func() { _ = f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue; the dial that no longer completes shows it
	// full.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { _ = c.Close() })
		if i == 16 {
			t.Skip("the kernel kept accepting connections on a backlog of one: no black hole to test with")
		}
	}
	return addr
}

// TestProxyBoundsUpstreamDial: a client whose proxy cannot reach the
// broker (a dial that would hang) has its connection closed after the
// dial timeout, and a second client is not held behind the first.
// toxiproxy's own accept loop dialled inline with no timeout: both would
// wait about two minutes.
func TestProxyBoundsUpstreamDial(t *testing.T) {
	old := upstreamDialTimeout
	upstreamDialTimeout = 500 * time.Millisecond
	t.Cleanup(func() { upstreamDialTimeout = old })
	addr := blackHole(t)
	nw := NewNetwork()
	if err := nw.Start([]string{addr}); err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 2)
	for range 2 {
		c, err := nw.Dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			_, err := c.Read(make([]byte, 1))
			done <- err
		}()
	}
	for range 2 {
		if err := <-done; errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("a client through the proxy of an upstream that does not answer was still connected after 15s")
		}
	}
}

// TestProxyForgetsEndedLinks: the connections of links that ended are
// not kept: a run whose clients reconnect all the time holds only the
// connections that are open.
func TestProxyForgetsEndedLinks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	nw := NewNetwork()
	if err := nw.Start([]string{ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	const n = 500
	for range n {
		c, err := nw.Dial(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// The broker closes at once: the read ends when the links do.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Read(make([]byte, 1))
		_ = c.Close()
	}
	a := nw.accepts[0]
	a.mu.Lock()
	kept := len(a.conns)
	a.mu.Unlock()
	if kept > n/2 {
		t.Errorf("%d connections kept after %d links that ended", kept, n)
	}
}
