package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/plural"
)

// embedded is an in-process kfake cluster on 127.0.0.1, persisted under the
// run directory so that a restart keeps its records.
//
// What kfake persists (its source, persist.go): every produced batch is
// written to the partition's segment file as it is appended, before the
// produce is answered (no fsync unless SyncWrites; an in-process restart
// never loses the page cache, so none is needed); group commits and
// producer ids go to append logs as they happen; Close writes the rest
// (topic metadata, idempotent sequence windows, group sessions). A new
// cluster on the same DataDir loads all of it: records, committed offsets,
// idempotent dedupe state and group members survive.
type embedded struct {
	n     int
	dir   string
	topic string // the run's topic, for leader moves
	keep  bool
	opts  []kfake.Opt // without Ports
	conns *connTracker

	mu      sync.Mutex
	ports   []int          // fixed at the first start
	cluster *kfake.Cluster // nil while everything is stopped
	down    []bool         // nodes taken out with RemoveNode
	closed  bool
}

var (
	_ broker.Restarter        = (*embedded)(nil)
	_ broker.Pauser           = (*embedded)(nil)
	_ broker.LeaderMover      = (*embedded)(nil)
	_ broker.TxnAnswerDropper = (*embedded)(nil)
)

// restartBind bounds retries of a listen on a port that the previous
// cluster has just released.
const restartBind = 5 * time.Second

func startEmbedded(set *settings, envDir string) (*embedded, error) {
	k := &set.k
	if k.TLS != nil && k.TLS.Enabled {
		return nil, errors.New("broker.kafka.tls is not supported with the embedded target (kfake would need a server certificate)")
	}
	if k.ReplicationFactor > k.Brokers {
		return nil, fmt.Errorf("broker.kafka.replication_factor %d is more than the %d brokers of the embedded cluster", k.ReplicationFactor, k.Brokers)
	}
	if envDir == "" {
		return nil, errors.New("starting embedded kafka: the run has no directory for its data")
	}
	// Absolute, so that the report names it wherever it is read from.
	envDir, err := filepath.Abs(envDir)
	if err != nil {
		return nil, fmt.Errorf("locating the run directory: %w", err)
	}
	e := &embedded{
		n:     k.Brokers,
		dir:   filepath.Join(envDir, "kafka-data"),
		topic: set.topic,
		keep:  set.keep,
		conns: newConnTracker(),
		down:  make([]bool, k.Brokers),
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating embedded kafka data dir: %w", err)
	}
	e.opts = []kfake.Opt{
		kfake.DataDir(e.dir),
		kfake.ListenFn(e.conns.listen),
		kfake.ClusterID("mqcheck-" + set.runID),
	}
	if set.log != nil {
		e.opts = append(e.opts, kfake.WithLogger(kfakeLogger{set.log}))
	}
	if s := k.SASL; s != nil {
		e.opts = append(e.opts, kfake.EnableSASL(), kfake.Superuser(s.Mechanism, s.User, s.Password))
	}
	// Ports are picked below the kernel's ephemeral range (never 9092)
	// and kept for restarts; one taken meanwhile gets others.
	var c *kfake.Cluster
	for try := 0; ; try++ {
		ports, err := broker.FreePorts(e.n)
		if err != nil {
			return nil, fmt.Errorf("starting embedded kafka (%d brokers): %w", e.n, err)
		}
		c, err = kfake.NewCluster(append(e.opts, kfake.NumBrokers(e.n), kfake.Ports(ports...))...)
		if err == nil {
			break
		}
		if try == 2 {
			return nil, fmt.Errorf("starting embedded kafka (%d brokers): %w", e.n, err)
		}
	}
	for _, a := range c.ListenAddrs() {
		_, p, err := net.SplitHostPort(a)
		port, perr := strconv.Atoi(p)
		if err != nil || perr != nil {
			c.Close()
			return nil, fmt.Errorf("starting embedded kafka: unexpected listen address %q", a)
		}
		e.ports = append(e.ports, port)
	}
	e.cluster = c
	return e, nil
}

// addrs are the brokers' host:port, also while stopped.
func (e *embedded) addrs() []string {
	as := make([]string, len(e.ports))
	for i, p := range e.ports {
		as[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return as
}

func (e *embedded) describe() string {
	// Described when it starts and read after the run: say what becomes
	// of the data.
	data := "data in " + e.dir + ", removed at the end (broker.keep: true keeps it)"
	if e.keep {
		data = "data kept in " + e.dir
	}
	return fmt.Sprintf("embedded kfake, %s on %s, %s", plural.Of(e.n, "broker"), strings.Join(e.addrs(), ","), data)
}

func (e *embedded) Nodes() int { return e.n }

// Stop with node < 0 (or a single-node cluster) closes the whole cluster:
// listeners and every connection go, state is saved, records stay on disk.
// kfake cannot be killed without its Close saving state, so graceful and
// kill do the same here.
//
// Stop of one node of several: kfake keeps one copy of the data for the
// whole cluster, so a node cannot go down with its data. The node leaves the
// cluster instead (RemoveNode: its listener closes, leadership and group
// coordination move to the other nodes) and its open connections are cut, so
// clients see what they would see when a broker dies and its partitions
// fail over. Nothing is lost, as with replication factor >= 2 on a real
// cluster. The last running node cannot be stopped on its own.
//
// Every leader move bumps the partitions' leader epochs, and kfake answers
// OffsetForLeaderEpoch for an epoch that ended with -1 until a batch was
// written in a later epoch (Kafka answers with the epoch's end offset). A
// consumer that validates its position in that window reports lost records
// (a "fetch-error" notice) and re-reads the last minute of the partition:
// duplicates that a real cluster would not cause.
func (e *embedded) Stop(_ context.Context, node int, _ bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("stopping embedded kafka: the target is closed")
	}
	// A paused node that is stopped is not paused any more, and kfake must
	// not wait on a connection held at the pause gate while it closes.
	e.conns.resume(e.portsOf(node))
	if node < 0 || e.n == 1 {
		if e.cluster == nil {
			return errors.New("stopping embedded kafka: already stopped")
		}
		e.cluster.Close()
		e.cluster = nil
		return nil
	}
	if node >= e.n {
		return fmt.Errorf("stopping embedded kafka node %d: the cluster has nodes 0..%d", node, e.n-1)
	}
	if e.cluster == nil {
		return fmt.Errorf("stopping embedded kafka node %d: the whole cluster is stopped", node)
	}
	if e.down[node] {
		return fmt.Errorf("stopping embedded kafka node %d: already stopped", node)
	}
	up := 0
	for _, d := range e.down {
		if !d {
			up++
		}
	}
	if up == 1 {
		return fmt.Errorf("stopping embedded kafka node %d: it is the last one running; stop all nodes (-1) instead", node)
	}
	if err := e.cluster.RemoveNode(int32(node)); err != nil {
		return fmt.Errorf("stopping embedded kafka node %d: %w", node, err)
	}
	e.conns.cut(e.ports[node])
	e.down[node] = true
	return nil
}

// Start brings back what Stop took down: the whole cluster on the same ports
// and data dir (node < 0, or every node that is down), or one node with its
// id and port.
func (e *embedded) Start(ctx context.Context, node int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("starting embedded kafka: the target is closed")
	}
	if node < 0 || e.n == 1 {
		if e.cluster == nil {
			return e.restartLocked(ctx)
		}
		started := false
		for i, d := range e.down {
			if d {
				if err := e.addNodeLocked(ctx, i); err != nil {
					return err
				}
				started = true
			}
		}
		if !started {
			return errors.New("starting embedded kafka: nothing is stopped")
		}
		return nil
	}
	if node >= e.n {
		return fmt.Errorf("starting embedded kafka node %d: the cluster has nodes 0..%d", node, e.n-1)
	}
	if e.cluster == nil {
		return fmt.Errorf("starting embedded kafka node %d: the whole cluster is stopped; start all nodes (-1)", node)
	}
	if !e.down[node] {
		return fmt.Errorf("starting embedded kafka node %d: it is running", node)
	}
	return e.addNodeLocked(ctx, node)
}

func (e *embedded) restartLocked(ctx context.Context) error {
	opts := append(e.opts[:len(e.opts):len(e.opts)], kfake.Ports(e.ports...))
	var c *kfake.Cluster
	err := retryBind(ctx, func() (err error) {
		c, err = kfake.NewCluster(opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("restarting embedded kafka on %s: %w", strings.Join(e.addrs(), ","), err)
	}
	e.cluster = c
	clear(e.down)
	return nil
}

func (e *embedded) addNodeLocked(ctx context.Context, node int) error {
	err := retryBind(ctx, func() error {
		_, _, err := e.cluster.AddNode(int32(node), e.ports[node])
		return err
	})
	if err != nil {
		return fmt.Errorf("starting embedded kafka node %d on port %d: %w", node, e.ports[node], err)
	}
	e.down[node] = false
	return nil
}

// retryBind retries fn while its port is still held by what just closed.
func retryBind(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(restartBind)
	for {
		err := fn()
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// close stops the cluster if it runs and removes its data unless the
// scenario keeps it. Safe to call more than once.
func (e *embedded) close(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.conns.resume(e.ports)
	if e.cluster != nil {
		e.cluster.Close()
		e.cluster = nil
	}
	if e.keep {
		return nil
	}
	if err := os.RemoveAll(e.dir); err != nil {
		return fmt.Errorf("removing embedded kafka data %s: %w", e.dir, err)
	}
	return nil
}

// kfake returns the running cluster, for tests that inject faults.
func (e *embedded) kfake() *kfake.Cluster {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cluster
}

// connTracker remembers the connections each listener accepted, so a single
// node can be cut off: kfake's RemoveNode only closes the listener.
type connTracker struct {
	// dropTxn: answers to EndTxn are dropped (DropTxnAnswers).
	dropTxn atomic.Bool

	mu    sync.Mutex
	conns map[int]map[*trackedConn]struct{} // by listening port
	gates map[int]*gate                     // by listening port; see Pause
}

func newConnTracker() *connTracker {
	return &connTracker{conns: make(map[int]map[*trackedConn]struct{}), gates: make(map[int]*gate)}
}

// gate returns the pause gate of port, the same one for every listener the
// port has over restarts.
func (t *connTracker) gate(port int) *gate {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.gates[port]
	if g == nil {
		g = &gate{}
		t.gates[port] = g
	}
	return g
}

func (t *connTracker) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return &trackedListener{Listener: ln, t: t, port: port, g: t.gate(port)}, nil
}

func (t *connTracker) add(c *trackedConn) {
	t.mu.Lock()
	m := t.conns[c.port]
	if m == nil {
		m = make(map[*trackedConn]struct{})
		t.conns[c.port] = m
	}
	m[c] = struct{}{}
	t.mu.Unlock()
}

func (t *connTracker) remove(c *trackedConn) {
	t.mu.Lock()
	delete(t.conns[c.port], c)
	t.mu.Unlock()
}

func (t *connTracker) cut(port int) {
	t.mu.Lock()
	cs := make([]*trackedConn, 0, len(t.conns[port]))
	for c := range t.conns[port] {
		cs = append(cs, c)
	}
	t.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

type trackedListener struct {
	net.Listener
	t    *connTracker
	port int
	g    *gate
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: l.t, port: l.port, g: l.g, done: make(chan struct{})}
	l.t.add(tc)
	return tc, nil
}

type trackedConn struct {
	net.Conn
	t    *connTracker
	port int
	g    *gate
	done chan struct{} // closed by Close: releases a Read or Write held at the gate
	once sync.Once

	frames requestFrames // the read side's request headers
	lost   lostAnswers   // answers to drop
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.remove(c)
		close(c.done)
	})
	return c.Conn.Close()
}

// Read and Write wait while the node is paused, as a stopped process
// neither reads nor writes its sockets; bytes read as the pause began are
// held back with the rest.
func (c *trackedConn) Read(b []byte) (int, error) {
	if err := c.g.wait(c.done); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	c.frames.feed(b[:n], c.header)
	if werr := c.g.wait(c.done); werr != nil && err == nil {
		err = werr
	}
	return n, err
}

// header marks the answer to an EndTxn for dropping while answers to ended
// transactions are lost.
func (c *trackedConn) header(key int16, corr int32) {
	if key == endTxnKey && c.t.dropTxn.Load() {
		c.lost.add(corr)
	}
}

func (c *trackedConn) Write(b []byte) (int, error) {
	if err := c.g.wait(c.done); err != nil {
		return 0, err
	}
	if c.lost.take(b) {
		c.Close()
		return 0, errAnswerLost
	}
	return c.Conn.Write(b)
}
