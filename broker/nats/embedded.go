package nats

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/units"
)

// ServerVersion is the version of the embedded nats-server.
const ServerVersion = server.VERSION

// embeddedReady bounds how long a node takes to accept clients.
const embeddedReady = 10 * time.Second

// embedded is one or three nats-server nodes inside the mqcheck process,
// with JetStream and a store directory each under the run directory, on
// 127.0.0.1 ports picked once: a stopped node starts again on the same
// port and store.
type embedded struct {
	mu    sync.Mutex
	opts  []*server.Options
	nodes []*server.Server // nil while stopped
	d     *driver
}

func newEmbedded(c *Config, env broker.Env) (*embedded, error) {
	n := max(c.Cluster, 1)
	e := &embedded{opts: make([]*server.Options, n), nodes: make([]*server.Server, n)}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var sync time.Duration
	always := false
	switch s := c.SyncInterval; s {
	case "":
	case "always":
		always = true
	default:
		d, err := units.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%w: broker.nats.sync_interval: %v", broker.ErrConfig, err)
		}
		sync = d.D()
	}
	var routes []*url.URL
	for i := range n {
		routes = append(routes, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(ports[n+i])})
	}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("mqcheck-%d", i), Host: "127.0.0.1", Port: ports[i],
			JetStream: true, StoreDir: filepath.Join(env.Dir, "nats", "n"+strconv.Itoa(i)),
			NoSigs: true, NoLog: true, SyncInterval: sync, SyncAlways: always,
			// A stopped node's JetStream limits stay put across restarts.
			JetStreamMaxMemory: 1 << 30, JetStreamMaxStore: 8 << 30,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "mqcheck", Host: "127.0.0.1", Port: ports[n+i]}
			o.Routes = routes
		}
		e.opts[i] = o
	}
	return e, nil
}

func freePorts(n int) ([]int, error) { return broker.FreePorts(n) }

func (e *embedded) addrs() []string {
	var out []string
	for _, o := range e.opts {
		out = append(out, "127.0.0.1:"+strconv.Itoa(o.Port))
	}
	return out
}

// start brings node i up and waits until it takes clients.
func (e *embedded) start(i int) error {
	e.mu.Lock()
	running := e.nodes[i] != nil
	e.mu.Unlock()
	if running {
		return nil
	}
	o := *e.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("starting embedded nats-server %d: %w", i, err)
	}
	s.Start()
	if !s.ReadyForConnections(embeddedReady) {
		s.Shutdown()
		return fmt.Errorf("embedded nats-server %d did not take connections on %s within %s", i, s.ClientURL(), embeddedReady)
	}
	e.mu.Lock()
	e.nodes[i] = s
	e.mu.Unlock()
	return nil
}

func (e *embedded) startAll() error {
	// Cluster nodes wait for each other: start them together.
	var wg sync.WaitGroup
	errs := make([]error, len(e.opts))
	for i := range e.opts {
		wg.Go(func() { errs[i] = e.start(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (e *embedded) stop(i int) {
	e.mu.Lock()
	s := e.nodes[i]
	e.nodes[i] = nil
	e.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (e *embedded) Nodes() int { return len(e.opts) }

func (e *embedded) each(node int, what string, f func(i int) error) error {
	if node >= len(e.opts) {
		return fmt.Errorf("%s node %d: the target has %d nodes", what, node, len(e.opts))
	}
	if node >= 0 {
		return f(node)
	}
	var errs []error
	for i := range e.opts {
		errs = append(errs, f(i))
	}
	return errors.Join(errs...)
}

// Stop shuts node down (all when node < 0). An in-process server cannot be
// killed: its file store is flushed and closed either way, so a kill here
// loses only what a clean shutdown loses (use the exec target for kill -9).
func (e *embedded) Stop(_ context.Context, node int, _ bool) error {
	return e.each(node, "stopping", func(i int) error { e.stop(i); return nil })
}

// Start brings back what Stop took down, on the same port and store.
func (e *embedded) Start(_ context.Context, node int) error {
	if node < 0 {
		return e.startAll()
	}
	return e.each(node, "starting", e.start)
}

func (e *embedded) close(context.Context) error {
	for i := range e.opts {
		e.stop(i)
	}
	return nil
}

func openEmbedded(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	e, err := newEmbedded(c, env)
	if err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	if err := e.startAll(); err != nil {
		_ = e.close(ctx)
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	addrs := e.addrs()
	d, err := newDriver(ctx, c, spec, env, serverURLs(addrs), nil)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("opening nats target: %w", err), e.close(ctx))
	}
	e.d = d
	if len(addrs) > 1 && c.Replicas > 1 {
		d.leader = e.opts[0].ServerName
	}
	what := "embedded nats-server " + ServerVersion
	if len(addrs) > 1 {
		what += fmt.Sprintf(", a JetStream cluster of %d nodes", len(addrs))
	}
	return &broker.Target{Driver: d, Restarter: e, Endpoints: addrs,
		Description: fmt.Sprintf("%s on %s, store in %s", what, strings.Join(addrs, ","), filepath.Join(env.Dir, "nats")), Close: e.close}, nil
}

func serverURLs(addrs []string) string {
	var us []string
	for _, a := range addrs {
		us = append(us, "nats://"+a)
	}
	return strings.Join(us, ",")
}
