package mqtt

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/machine"
)

// MochiVersion is the embedded server's module version.
const MochiVersion = "v2.7.9"

// embedded is mochi-mqtt running in the mqcheck process on a fixed port,
// its sessions in a bolt file under the run directory (persistence bolt),
// so that a stop and start keeps them as a broker restart does.
type embedded struct {
	c    *Config
	addr string
	db   string // the bolt file; "" without persistence
	log  *slog.Logger

	mu  sync.Mutex
	srv *mochi.Server // nil while stopped
	// prefix of the run's consumer client ids, for the backlog.
	prefix string
	dup    *dupHook // outlives restarts, as the sockets it saw written
	// mem: clients connect in memory (ln), not over TCP to addr.
	mem bool
	ln  *memListener // nil while stopped
}

// dupHook corrects one way mochi departs from the protocol: when a client
// reconnects, mochi resends every message of its session flagged DUP,
// also those it queued while the client was away and never sent, whose
// first delivery must not be flagged [MQTT-3.3.1-1]. The hook remembers
// which publishes it saw written and clears DUP on the others, so that
// the redelivery flag means what it means on mosquitto. A publish is known
// by its packet id and its payload's hash: ids are reused, and an exchange
// a dropped connection never finished leaves its id behind (a first
// delivery that reused it was once flagged DUP under load).
type dupHook struct {
	mochi.HookBase
	mu   sync.Mutex
	sent map[dupKey]uint64
}

type dupKey struct {
	client string
	id     uint16
}

func (h *dupHook) ID() string { return "mqcheck-dup" }

func (h *dupHook) Provides(b byte) bool {
	return b == mochi.OnPacketEncode || b == mochi.OnQosComplete
}

func (h *dupHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 {
		return pk
	}
	k := dupKey{cl.ID, pk.PacketID}
	sum := payloadHash(pk.Payload)
	h.mu.Lock()
	defer h.mu.Unlock()
	if was, ok := h.sent[k]; pk.FixedHeader.Dup && (!ok || was != sum) {
		pk.FixedHeader.Dup = false
	}
	h.sent[k] = sum
	return pk
}

// OnQosComplete forgets a finished exchange. Dropped ones are not
// forgotten: mochi drops the old connection's copy of a session it hands
// to the new connection.
func (h *dupHook) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	h.mu.Lock()
	delete(h.sent, dupKey{cl.ID, pk.PacketID})
	h.mu.Unlock()
}

// payloadHash tells one publish's payload from another's. It runs for
// every QoS 1 and 2 publish the embedded broker writes: maphash, not a
// byte-at-a-time hash.
func payloadHash(b []byte) uint64 { return maphash.Bytes(payloadSeed, b) }

var payloadSeed = maphash.MakeSeed()

var _ broker.Restarter = (*embedded)(nil)

func openEmbedded(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	e := &embedded{c: c, log: slog.New(slog.NewTextHandler(io.Discard, nil)), dup: &dupHook{sent: map[dupKey]uint64{}}}
	if c.Persistence == "bolt" {
		base := env.Dir
		if base == "" {
			base = os.TempDir()
		}
		if err := os.MkdirAll(base, 0o755); err != nil {
			return nil, fmt.Errorf("creating the run directory: %w", err)
		}
		dir, err := os.MkdirTemp(base, "mochi-")
		if err != nil {
			return nil, fmt.Errorf("creating the embedded broker's directory: %w", err)
		}
		e.db = filepath.Join(dir, "sessions.bolt")
	}
	e.mem = env.Dial == nil && tcpFDs(spec) > fdShare*float64(machine.Current().FileDescriptors)
	var errs []error
	for range 3 {
		if e.mem {
			e.addr = "memory"
			if err := e.start(); err != nil {
				return nil, fmt.Errorf("starting the embedded MQTT broker: %w", err)
			}
			break
		}
		port, err := broker.FreePort()
		if err != nil {
			return nil, err
		}
		e.addr = "127.0.0.1:" + strconv.Itoa(port)
		if err = e.start(); err == nil {
			break
		}
		errs = append(errs, err)
		e.addr = ""
	}
	if e.addr == "" {
		return nil, fmt.Errorf("starting the embedded MQTT broker: %w", errors.Join(errs...))
	}
	ep, endpoints := endpoint{addr: e.addr}, []string{e.addr}
	if e.mem {
		ep.dial, endpoints = e.dial, nil
	}
	d := newDriver(c, spec, ep, env)
	e.prefix = d.consumerPrefix()
	d.backlog = e.backlog
	d.gone = e.gone
	persist := "no persistence"
	if e.db != "" {
		persist = "sessions in " + e.db
	}
	return &broker.Target{Driver: d, Restarter: e, Endpoints: endpoints,
		Description: fmt.Sprintf("embedded mochi-mqtt %s on %s, %s", MochiVersion, e.where(), persist),
		Close:       func(context.Context) error { return e.Stop(ctx, -1, true) }}, nil
}

// fdShare of the descriptor limit a fleet may take over TCP before the
// embedded target connects it in memory (the capacity check's share).
const fdShare = 0.9

// tcpFDs are the descriptors the run's clients take over TCP on the
// embedded target: both ends of each connection are in this process.
func tcpFDs(spec broker.Spec) float64 {
	return 64 + 2*float64(spec.Producers+spec.Consumers*max(spec.Subscriptions, 1))
}

// start builds a server, with the bolt hook loading what the last one
// stored, and serves.
func (e *embedded) start() error {
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumInflight = uint16(e.c.MaxInflight)
	srv := mochi.New(&mochi.Options{Capabilities: caps, Logger: e.log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return fmt.Errorf("adding the allow-all hook: %w", err)
	}
	if err := srv.AddHook(e.dup, nil); err != nil {
		return fmt.Errorf("adding the DUP hook: %w", err)
	}
	th := newTakeoverHook()
	th.srv = srv
	if err := srv.AddHook(th, nil); err != nil {
		return fmt.Errorf("adding the takeover hook: %w", err)
	}
	if e.db != "" {
		// No fsync: the file outlives a restart of the server inside
		// mqcheck, which is what the embedded target restarts.
		if err := srv.AddHook(newLockedBolt(), &bolt.Options{Path: e.db,
			Options: &bbolt.Options{Timeout: 5 * time.Second, NoSync: true}}); err != nil {
			return fmt.Errorf("opening the session store %s: %w", e.db, err)
		}
	}
	var ml *memListener
	var ln listeners.Listener = listeners.NewTCP(listeners.Config{ID: "mqcheck", Address: e.addr})
	if e.mem {
		ml = newMemListener()
		ln = listeners.NewNet("mqcheck", ml)
	}
	if err := srv.AddListener(ln); err != nil {
		_ = srv.Close()
		return fmt.Errorf("listening on %s: %w", e.addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return fmt.Errorf("serving on %s: %w", e.addr, err)
	}
	e.mu.Lock()
	e.srv, e.ln = srv, ml
	e.mu.Unlock()
	return nil
}

// where says where clients reach the server.
func (e *embedded) where() string {
	if e.mem {
		return "in-memory connections (the fleet is past the descriptors TCP would take, and the run has no network faults)"
	}
	return e.addr
}

// dial connects a client in memory; refused while the server is stopped,
// as a TCP connect is.
func (e *embedded) dial(ctx context.Context) (net.Conn, error) {
	e.mu.Lock()
	ln := e.ln
	e.mu.Unlock()
	if ln == nil {
		return nil, fmt.Errorf("%w: connecting in memory: %w", broker.ErrUnreachable, errMemClosed)
	}
	return ln.dial(ctx)
}

// Nodes: one server.
func (e *embedded) Nodes() int { return 1 }

// Stop closes the server: its clients are disconnected, its sessions stay
// in the bolt file. Killed or graceful is the same inside one process.
func (e *embedded) Stop(_ context.Context, node int, _ bool) error {
	if err := broker.OneNode("stopping mochi-mqtt", node); err != nil {
		return err
	}
	e.mu.Lock()
	srv := e.srv
	e.srv, e.ln = nil, nil
	e.mu.Unlock()
	if srv == nil {
		return nil
	}
	// mochi's Close disconnects a listener's clients through
	// Clients.GetByListener, which takes the clients' read lock twice: a
	// client attaching in between (its write lock waiting) deadlocks both
	// for ever, as CI saw at a test's end. Closing the listeners first with
	// one read lock leaves Close nothing to do there.
	srv.Listeners.CloseAll(func(id string) {
		for _, cl := range srv.Clients.GetAll() {
			if cl.Net.Listener == id && !cl.Closed() {
				_ = srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	})
	return srv.Close()
}

// Start serves again on the same port, with the sessions the bolt file
// kept.
func (e *embedded) Start(ctx context.Context, node int) error {
	if err := broker.OneNode("starting mochi-mqtt", node); err != nil {
		return err
	}
	e.mu.Lock()
	up := e.srv != nil
	e.mu.Unlock()
	if up {
		return nil
	}
	var err error
	for ctx.Err() == nil {
		// The port may linger a moment after the listener closed.
		if err = e.start(); err == nil {
			return nil
		}
		if !sleep(ctx, 100*time.Millisecond) {
			break
		}
	}
	return fmt.Errorf("starting the embedded MQTT broker again: %w", errors.Join(err, ctx.Err()))
}

// backlog counts the QoS 1 and 2 messages the server holds for the run's
// consumers (in flight or queued for an offline session).
func (e *embedded) backlog(context.Context) (int64, error) {
	e.mu.Lock()
	srv := e.srv
	e.mu.Unlock()
	if srv == nil {
		return 0, errors.New("the embedded broker is stopped")
	}
	var n int64
	for id, cl := range srv.Clients.GetAll() {
		if strings.HasPrefix(id, e.prefix) {
			n += int64(cl.State.Inflight.Len())
		}
	}
	return n, nil
}

// goneWait bounds the wait for the server to let a connection go: it
// closes the socket as it reads the DISCONNECT, so this is milliseconds.
const goneWait = 10 * time.Second

// gone waits until the server has no open connection for client id and,
// with clean, until it holds no session for id either.
func (e *embedded) gone(ctx context.Context, id string, clean bool) error {
	deadline := time.Now().Add(goneWait)
	for {
		e.mu.Lock()
		srv := e.srv
		e.mu.Unlock()
		if srv == nil {
			return nil
		}
		cl, ok := srv.Clients.Get(id)
		if !ok || (cl.Closed() && !clean) {
			return nil
		}
		if time.Now().After(deadline) {
			if clean && cl.Closed() {
				return fmt.Errorf("mochi-mqtt still held a clean session %s after its connection closed", goneWait)
			}
			return fmt.Errorf("mochi-mqtt still had its connection open %s after it disconnected", goneWait)
		}
		if !sleep(ctx, time.Millisecond) {
			return ctx.Err()
		}
	}
}
