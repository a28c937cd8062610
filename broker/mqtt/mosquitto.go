package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/proc"
)

// MosquittoPath is where Debian's mosquitto package installs the server.
const MosquittoPath = "/usr/sbin/mosquitto"

// Timing of the private mosquitto.
const (
	mosquittoBoot = 15 * time.Second
	mosquittoPoll = 20 * time.Millisecond
	// mosquittoGrace bounds a graceful stop (SIGTERM, which saves the
	// store) before it is a kill.
	mosquittoGrace = 10 * time.Second
)

// MosquittoInstalled is nil when the mosquitto server is installed.
func MosquittoInstalled() error {
	if _, err := os.Stat(MosquittoPath); err != nil {
		return fmt.Errorf("mosquitto is not installed (%s): apt-get install mosquitto: %w", MosquittoPath, err)
	}
	return nil
}

// mosquittoNode is a private mosquitto with its own configuration and
// persistence file in the run directory.
type mosquittoNode struct {
	dir  string
	port int
	log  *slog.Logger

	mu sync.Mutex
	p  *proc.Process // nil while stopped
}

var _ broker.Restarter = (*mosquittoNode)(nil)

func openMosquitto(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if err := MosquittoInstalled(); err != nil {
		return nil, fmt.Errorf("opening mqtt target: %w", err)
	}
	base := env.Dir
	if base == "" {
		base = os.TempDir()
	}
	base, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("locating the run directory: %w", err)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("creating the run directory: %w", err)
	}
	dir, err := os.MkdirTemp(base, "mosquitto-")
	if err != nil {
		return nil, fmt.Errorf("creating the mosquitto directory: %w", err)
	}
	n := &mosquittoNode{dir: dir, log: env.Log}
	var errs []error
	for range 3 {
		if n.port, err = broker.FreePort(); err != nil {
			return nil, err
		}
		if err = os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(mosquittoConf(c, dir, n.port)), 0o644); err != nil {
			return nil, fmt.Errorf("writing the mosquitto configuration: %w", err)
		}
		if err = n.start(ctx); err == nil {
			break
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("starting mosquitto: %w", errors.Join(errs...))
	}
	addr := "127.0.0.1:" + strconv.Itoa(n.port)
	d := newDriver(c, spec, endpoint{addr: addr}, env)
	d.backlog = func(ctx context.Context) (int64, error) { return mosquittoBacklog(ctx, d) }
	save := fmt.Sprintf("autosave every %d seconds", c.Mosquitto.AutosaveInterval)
	if c.Mosquitto.AutosaveOnChanges {
		save = fmt.Sprintf("autosave every %d changes", c.Mosquitto.AutosaveInterval)
	}
	return &broker.Target{Driver: d, Restarter: n, Endpoints: []string{addr},
		Description: fmt.Sprintf("private mosquitto (%s) on %s, persistence in %s, %s", MosquittoPath, addr, dir, save),
		Close:       func(context.Context) error { return n.Stop(context.Background(), -1, false) }}, nil
}

// mosquittoConf is the private server's configuration: one listener on
// 127.0.0.1, anonymous clients, a persistence file, and $SYS every second
// for the backlog.
func mosquittoConf(c *Config, dir string, port int) string {
	m := c.Mosquitto
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\nallow_anonymous true\n", port)
	fmt.Fprintf(&b, "persistence true\npersistence_location %s/\npersistence_file mosquitto.db\n", dir)
	fmt.Fprintf(&b, "autosave_interval %d\nautosave_on_changes %t\n", m.AutosaveInterval, m.AutosaveOnChanges)
	fmt.Fprintf(&b, "max_queued_messages %d\nmax_inflight_messages %d\n", m.MaxQueuedMessages, m.MaxInflightMessages)
	fmt.Fprintf(&b, "sys_interval 1\nlog_dest file %s/mosquitto.log\nlog_type error\nlog_type warning\nlog_type notice\n", dir)
	return b.String()
}

func (n *mosquittoNode) start(ctx context.Context) error {
	cmd := exec.Command(MosquittoPath, "-c", filepath.Join(n.dir, "mosquitto.conf"))
	cmd.Dir = n.dir
	out, err := os.OpenFile(filepath.Join(n.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the mosquitto console log: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{Tag: "mosquitto-" + strconv.Itoa(n.port), Log: n.log})
	if err != nil {
		return fmt.Errorf("starting %s: %w", MosquittoPath, err)
	}
	n.mu.Lock()
	n.p = p
	n.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, mosquittoBoot)
	defer cancel()
	addr := "127.0.0.1:" + strconv.Itoa(n.port)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.Done():
			_ = n.Stop(ctx, -1, false)
			return fmt.Errorf("mosquitto exited on port %d: %s", n.port, n.tail())
		case <-wctx.Done():
			_ = n.Stop(ctx, -1, false)
			return fmt.Errorf("mosquitto did not listen on %s: %w; %s", addr, wctx.Err(), n.tail())
		case <-time.After(mosquittoPoll):
		}
	}
}

// tail is the end of the server's logs, for errors.
func (n *mosquittoNode) tail() string {
	var b []byte
	for _, f := range []string{"console.log", "mosquitto.log"} {
		x, _ := os.ReadFile(filepath.Join(n.dir, f))
		b = append(b, x...)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "no output"
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return "its output ends with:\n" + string(b)
}

// Nodes: one server.
func (n *mosquittoNode) Nodes() int { return 1 }

// Stop kills mosquitto (SIGKILL: what it had not saved is gone) or, when
// graceful, stops it with SIGTERM, which saves the store first.
func (n *mosquittoNode) Stop(_ context.Context, node int, graceful bool) error {
	if err := broker.OneNode("stopping mosquitto", node); err != nil {
		return err
	}
	n.mu.Lock()
	p := n.p
	n.p = nil
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	if graceful {
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.Done():
		case <-time.After(mosquittoGrace):
		}
	}
	return p.Stop(5 * time.Second)
}

// Start runs mosquitto again with the same configuration, port and
// persistence file.
func (n *mosquittoNode) Start(ctx context.Context, node int) error {
	if err := broker.OneNode("starting mosquitto", node); err != nil {
		return err
	}
	n.mu.Lock()
	up := n.p != nil
	n.mu.Unlock()
	if up {
		return nil
	}
	var err error
	for range 20 {
		// The port may linger a moment after the kill.
		if err = n.start(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		if !sleep(ctx, 250*time.Millisecond) {
			break
		}
	}
	return fmt.Errorf("starting mosquitto again: %w", err)
}

// PID of the running server, 0 while stopped (benchmarks read its CPU).
func (n *mosquittoNode) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return 0
	}
	return n.p.Pid()
}

// sysLag is how long after a publish mosquitto's $SYS figures may not
// count it yet (sys_interval 1).
const sysLag = 2500 * time.Millisecond

// $SYS topics of mosquitto's store, published every sys_interval (1s).
const (
	sysStored   = "$SYS/broker/store/messages/count"
	sysRetained = "$SYS/broker/retained messages/count"
)

// mosquittoBacklog reads the messages mosquitto's store holds (queued for
// sessions, in flight, retained) from its $SYS topics, less the retained
// ones the run published. The figures are up to a second old; after the
// load they only fall, so a stale figure is never too low.
func mosquittoBacklog(ctx context.Context, d *driver) (int64, error) {
	// $SYS comes every second: a figure is proof only once a whole
	// period (and some) has passed since the last publish.
	if since := time.Since(time.Unix(0, d.lastSend.Load())); since < sysLag {
		return 0, fmt.Errorf("mosquitto's $SYS counts lag the publishes (last %s ago)", since.Round(time.Millisecond))
	}
	vals := make(chan [2]string, 4)
	cn, err := d.dial(ctx, connectOptions{clientID: d.prefix + "-sys", cleanStart: true,
		onMessage: func(in inbound) bool {
			select {
			case vals <- [2]string{in.topic, string(in.payload)}:
			default:
			}
			return true
		}})
	if err != nil {
		return 0, err
	}
	defer cn.disconnect()
	for _, topic := range []string{sysStored, sysRetained} {
		if err := cn.subscribe(ctx, topic, 0); err != nil {
			return 0, fmt.Errorf("subscribing to mosquitto's %s: %w", topic, err)
		}
	}
	stored, retained := int64(-1), int64(-1)
	for stored < 0 || retained < 0 {
		select {
		case v := <-vals:
			x, err := strconv.ParseInt(strings.TrimSpace(v[1]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("mosquitto's %s is %q: %w", v[0], v[1], err)
			}
			if v[0] == sysStored {
				stored = x
			} else {
				retained = x
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("reading mosquitto's $SYS store counts: %w", ctx.Err())
		}
	}
	return max(stored-retained, 0), nil
}
