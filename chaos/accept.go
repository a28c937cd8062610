package chaos

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
)

// upstreamDialTimeout bounds the proxy's dial of its broker. A refused
// dial fails at once; one whose SYN goes nowhere (a container's forwarded
// port while its network is torn down) would otherwise wait for the
// kernel's SYN retries, about two minutes.
var upstreamDialTimeout = 5 * time.Second

// acceptor is one endpoint's listener and accept loop, feeding a toxiproxy
// proxy's toxic links. toxiproxy's own loop (Proxy.Start) dials the
// upstream inline with no timeout, so one dial that hangs holds every
// later client in the listen queue, and it returns for good on the first
// accept error while its listener stays open: either way clients connect
// and then get nothing, which twice ended a container-restart known
// answer in CI with its clients cut off through the rest of the run. Here
// each client's dial runs on its own, bounded, and accept errors are
// waited out.
type acceptor struct {
	p   *toxiproxy.Proxy
	srv *toxiproxy.ApiServer
	ln  net.Listener
	log *slog.Logger

	ctx    context.Context // ends at close: dials in progress give up
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// conns are the connections of links, both sides: close cuts them.
	// Links close their own when they end; pruned from here as they are
	// found closed.
	conns     map[*net.TCPConn]struct{}
	pruneNext int
}

// startAcceptor listens on a kernel-picked 127.0.0.1 port for p.
func startAcceptor(p *toxiproxy.Proxy, srv *toxiproxy.ApiServer, log *slog.Logger) (*acceptor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.Listen = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	a := &acceptor{p: p, srv: srv, ln: ln, log: log, ctx: ctx, cancel: cancel, conns: map[*net.TCPConn]struct{}{}, pruneNext: 64}
	a.wg.Add(1)
	go a.serve()
	return a, nil
}

func (a *acceptor) serve() {
	defer a.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || a.ctx.Err() != nil {
				return
			}
			// Out of descriptors, or the like: it passes.
			a.log.Debug("proxy: accepting a client", "listen", a.p.Listen, "upstream", a.p.Upstream, "err", err)
			select {
			case <-a.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		a.wg.Add(1)
		go a.link(c.(*net.TCPConn))
	}
}

// link dials the upstream for client and starts the toxic links both
// ways, as toxiproxy's loop does; a failed dial closes the client, which
// sees what it would see from the broker gone.
func (a *acceptor) link(client *net.TCPConn) {
	defer a.wg.Done()
	ctx, cancel := context.WithTimeout(a.ctx, upstreamDialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.p.Upstream)
	if err != nil {
		a.log.Debug("proxy: unable to open a connection to the upstream", "client", client.RemoteAddr().String(),
			"upstream", a.p.Upstream, "err", err)
		_ = client.Close()
		return
	}
	up := c.(*net.TCPConn)
	if !a.track(client, up) {
		_ = client.Close()
		_ = up.Close()
		return
	}
	name := client.RemoteAddr().String()
	a.p.Toxics.StartLink(a.srv, name+"upstream", client, up, stream.Upstream)
	a.p.Toxics.StartLink(a.srv, name+"downstream", up, client, stream.Downstream)
}

// track keeps a link's connections for close; false once closed.
func (a *acceptor) track(cs ...*net.TCPConn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	for _, c := range cs {
		a.conns[c] = struct{}{}
	}
	if len(a.conns) >= a.pruneNext {
		for c := range a.conns {
			if isClosed(c) {
				delete(a.conns, c)
			}
		}
		a.pruneNext = max(64, 2*len(a.conns))
	}
	return true
}

// isClosed reports a connection closed on this side (by its link).
func isClosed(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	return rc.Control(func(uintptr) {}) != nil
}

// close stops accepting, gives up dials in progress and cuts every link.
func (a *acceptor) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	_ = a.ln.Close()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		_ = c.Close()
	}
	clear(a.conns)
}
