package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// memListener hands the embedded server connections made in memory
// (net.Pipe): a client of the embedded target then takes no file
// descriptor at all, where over TCP it takes two in this process (its end
// and the server's), which kept fleets of 10,000 under a hard limit of
// 20,000 from running. Network faults need TCP (their proxy sits in the
// path), and net.Pipe has no buffer, which changes how a stalled reader
// meets mochi's in-flight limits: the embedded target listens in memory
// only for a fleet past the descriptor limit over TCP, in a run without
// network faults.
type memListener struct {
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newMemListener() *memListener {
	return &memListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

var errMemClosed = errors.New("the embedded broker is not listening")

// Accept waits for dial's next connection.
func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

// dial connects a client: the server gets one end when it accepts.
func (l *memListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	return nil, fmt.Errorf("connecting in memory: %w", errors.Join(errMemClosed, context.Cause(ctx)))
}

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "memory" }
