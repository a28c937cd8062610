package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
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

// FauxqsVersion is the npm package the exec target runs: the last fauxqs
// that runs on Node.js 20 (2.x needs node:sqlite, Node 22.5).
const FauxqsVersion = "1.9.2"

// FauxqsDirEnv overrides where the exec target looks for fauxqs: a
// directory holding node_modules/fauxqs.
const FauxqsDirEnv = "MQCHECK_FAUXQS_DIR"

// ErrNotInstalled is wrapped by Open's error when an exec target is asked
// for and fauxqs or Node.js is missing.
var ErrNotInstalled = errors.New("fauxqs is not installed")

// Waits of the exec target. Node boots fauxqs in about half a second.
const (
	fauxqsBoot     = 60 * time.Second
	fauxqsPoll     = 50 * time.Millisecond
	fauxqsKillWait = 10 * time.Second
	fauxqsAttempts = 3
)

// FauxqsDir is the directory the exec target runs fauxqs from:
// $MQCHECK_FAUXQS_DIR, else <user cache dir>/mqcheck/fauxqs-<version>.
// `npm install --prefix DIR fauxqs@1.9.2` installs it there.
func FauxqsDir() string {
	if d := os.Getenv(FauxqsDirEnv); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "mqcheck", "fauxqs-"+FauxqsVersion)
}

// FauxqsInstalled reports whether an exec target can start here: nil, or
// an error wrapping ErrNotInstalled that says how to install it.
func FauxqsInstalled() error {
	_, _, err := findFauxqs()
	return err
}

// findFauxqs locates node and fauxqs's app module, checking the version.
func findFauxqs() (node, app string, err error) {
	dir := FauxqsDir()
	install := fmt.Sprintf("npm install --no-save --prefix %s fauxqs@%s", dir, FauxqsVersion)
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("%w: Node.js (node) is not on PATH (apt-get install nodejs npm; then %s)", ErrNotInstalled, install)
	}
	pkg := filepath.Join(dir, "node_modules", "fauxqs")
	b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return "", "", fmt.Errorf("%w in %s (%s, or set %s)", ErrNotInstalled, dir, install, FauxqsDirEnv)
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Version != FauxqsVersion {
		return "", "", fmt.Errorf("%w: %s holds fauxqs %q, mqcheck runs %s (%s)", ErrNotInstalled, dir, meta.Version, FauxqsVersion, install)
	}
	return node, filepath.Join(pkg, "dist", "app.js"), nil
}

// launcher starts fauxqs bound to 127.0.0.1 (its own command line listens
// on every interface) without its request log.
const launcher = `const { buildApp } = await import(process.env.MQCHECK_FAUXQS_APP);
const port = parseInt(process.env.MQCHECK_FAUXQS_PORT, 10);
const app = buildApp({ logger: false });
await app.listen({ port, host: "127.0.0.1" });
console.log("fauxqs listening on 127.0.0.1:" + port);
`

// fauxqsNode is a private fauxqs process: Node.js running the launcher,
// started through proc (own process group, gone with mqcheck).
type fauxqsNode struct {
	dir  string // the node's directory in the run directory: launcher and log
	port int
	node string
	app  string
	log  *slog.Logger
	d    *driver

	mu sync.Mutex
	p  *proc.Process // nil while stopped
}

var _ broker.Restarter = (*fauxqsNode)(nil)

func openFauxqs(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	node, app, err := findFauxqs()
	if err != nil {
		return nil, fmt.Errorf("opening sqs target: %w", err)
	}
	base := env.Dir
	if base == "" {
		base = os.TempDir()
	}
	if base, err = filepath.Abs(base); err != nil {
		return nil, fmt.Errorf("locating the run directory: %w", err)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("creating the run directory: %w", err)
	}
	dir, err := os.MkdirTemp(base, "fauxqs-")
	if err != nil {
		return nil, fmt.Errorf("creating the fauxqs directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "launch.mjs"), []byte(launcher), 0o644); err != nil {
		return nil, fmt.Errorf("writing the fauxqs launcher: %w", err)
	}
	n := &fauxqsNode{dir: dir, node: node, app: app, log: env.Log}
	var errs []error
	for range fauxqsAttempts {
		if n.port, err = broker.FreePort(); err != nil {
			return nil, err
		}
		err = n.start(ctx)
		if err == nil {
			break
		}
		errs = append(errs, err)
		// Only a process that died at once (another took the port) is
		// worth another try.
		if !errors.Is(err, errExited) || ctx.Err() != nil {
			return nil, fmt.Errorf("starting fauxqs: %w", errors.Join(errs...))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("starting fauxqs: %w", errors.Join(errs...))
	}
	addr := "127.0.0.1:" + strconv.Itoa(n.port)
	d, err := newDriver(ctx, c, spec, endpoint{url: "http://" + addr, emulator: true}, env)
	if err != nil {
		return nil, errors.Join(err, n.close(ctx))
	}
	n.d = d
	return &broker.Target{Driver: d, Restarter: n, Endpoints: []string{addr},
		Description: fmt.Sprintf("private fauxqs %s (Node.js) on %s, log in %s", FauxqsVersion, addr, dir), Close: n.close}, nil
}

var errExited = errors.New("fauxqs exited while starting")

// start runs node with the launcher and waits until fauxqs takes
// connections.
func (n *fauxqsNode) start(ctx context.Context) error {
	cmd := exec.Command(n.node, filepath.Join(n.dir, "launch.mjs"))
	cmd.Dir = n.dir
	cmd.Env = append(os.Environ(), "MQCHECK_FAUXQS_APP="+(&url.URL{Scheme: "file", Path: n.app}).String(),
		"MQCHECK_FAUXQS_PORT="+strconv.Itoa(n.port))
	out, err := os.OpenFile(filepath.Join(n.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the fauxqs log: %w", err)
	}
	defer out.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{Tag: "fauxqs-" + strconv.Itoa(n.port), Log: n.log})
	if err != nil {
		return fmt.Errorf("starting %s: %w", n.node, err)
	}
	n.mu.Lock()
	n.p = p
	n.mu.Unlock()
	return n.waitReady(ctx, p)
}

func (n *fauxqsNode) waitReady(ctx context.Context, p *proc.Process) error {
	ctx, cancel := context.WithTimeout(ctx, fauxqsBoot)
	defer cancel()
	addr := "127.0.0.1:" + strconv.Itoa(n.port)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.Done():
			n.stop(false)
			return fmt.Errorf("%w on port %d: %s", errExited, n.port, n.tail())
		case <-ctx.Done():
			n.stop(false)
			return fmt.Errorf("fauxqs did not listen on %s: %w; %s", addr, ctx.Err(), n.tail())
		case <-time.After(fauxqsPoll):
		}
	}
}

// tail is the end of the process's output, for errors.
func (n *fauxqsNode) tail() string {
	b, err := os.ReadFile(filepath.Join(n.dir, "console.log"))
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return "no output"
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return "its output ends with:\n" + strings.TrimSpace(string(b))
}

func (n *fauxqsNode) Nodes() int { return 1 }

// stop ends the process: SIGTERM when graceful, else SIGKILL, and always
// waits for it.
func (n *fauxqsNode) stop(graceful bool) error {
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
		case <-time.After(fauxqsKillWait):
		}
	}
	return p.Stop(fauxqsKillWait)
}

// Stop kills fauxqs (or stops it with SIGTERM): it keeps nothing on disk,
// so either way its queues are gone.
func (n *fauxqsNode) Stop(_ context.Context, node int, graceful bool) error {
	if err := broker.OneNode("stopping fauxqs", node); err != nil {
		return err
	}
	return n.stop(graceful)
}

// Start runs fauxqs again on the same port and creates the run's queues
// again.
func (n *fauxqsNode) Start(ctx context.Context, node int) error {
	if err := broker.OneNode("starting fauxqs", node); err != nil {
		return err
	}
	n.mu.Lock()
	running := n.p != nil
	n.mu.Unlock()
	if running {
		return nil
	}
	if err := n.start(ctx); err != nil {
		return fmt.Errorf("starting fauxqs again: %w", err)
	}
	if err := n.d.Setup(ctx); err != nil {
		return fmt.Errorf("creating the run's queues again after the restart: %w", err)
	}
	return nil
}

func (n *fauxqsNode) close(context.Context) error { return n.stop(false) }
