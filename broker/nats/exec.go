package nats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/proc"
	"github.com/mqcheck/mqcheck/units"
)

// ExecServer is Debian's nats-server, the exec target's last resort.
const ExecServer = "/usr/sbin/nats-server"

// syncSince is the first nats-server release with the JetStream setting
// sync_interval (a duration, or always): 2.9.10 refuses the configuration
// with `unknown field "sync_interval"`.
var syncSince = version{2, 10, 0}

// Timings of the private server: ready in ~0.1 s on a quiet machine.
const (
	execBoot     = 20 * time.Second
	execPoll     = 20 * time.Millisecond
	execKillWait = 10 * time.Second
	versionWait  = 10 * time.Second
)

// CachedServer is where `make nats-server` builds the nats-server of
// go.mod (the one embedded): <user cache dir>/mqcheck/nats-server-<version>,
// the user cache dir being $XDG_CACHE_HOME or ~/.cache.
func CachedServer() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "mqcheck", "nats-server-"+ServerVersion)
}

// FindServer is the nats-server an exec target runs: server when set (a
// path, or a name on PATH), else the one `make nats-server` built
// (CachedServer) when present, else nats-server on PATH, else Debian's
// (ExecServer). The error says how to get one.
func FindServer(server string) (string, error) {
	if server != "" {
		// A bare name is looked up on PATH, as a shell would.
		p, err := exec.LookPath(server)
		if err != nil {
			return "", fmt.Errorf("the nats-server asked for: %w", err)
		}
		return p, nil
	}
	if p := CachedServer(); executable(p) == nil {
		return p, nil
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if err := executable(ExecServer); err != nil {
		return "", fmt.Errorf("nats-server is not installed (not in %s, on PATH or at %s: apt-get install nats-server, or make nats-server)", CachedServer(), ExecServer)
	}
	return ExecServer, nil
}

func executable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// ExecInstalled reports why the exec target cannot run here, nil when it can.
func ExecInstalled() error {
	_, err := FindServer("")
	return err
}

// version is a nats-server release.
type version [3]int

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

func (v version) less(w version) bool {
	return slices.Compare(v[:], w[:]) < 0
}

// versionOut matches `nats-server --version`: "nats-server: v2.9.10".
var versionOut = regexp.MustCompile(`nats-server: v(\d+)\.(\d+)\.(\d+)`)

// serverVersion asks the nats-server at path for its version.
func serverVersion(ctx context.Context, path string) (version, error) {
	ctx, cancel := context.WithTimeout(ctx, versionWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return version{}, fmt.Errorf("asking %s --version: %w (%q)", path, err, bytes.TrimSpace(out))
	}
	m := versionOut.FindSubmatch(out)
	if m == nil {
		return version{}, fmt.Errorf("asking %s --version: no version in %q", path, bytes.TrimSpace(out))
	}
	var v version
	for i := range v {
		v[i], _ = strconv.Atoi(string(m[i+1]))
	}
	return v, nil
}

// checkSync refuses sync_interval on a server too old to have it.
func checkSync(c *Config, path string, v version) error {
	if c.SyncInterval == "" || !v.less(syncSince) {
		return nil
	}
	return broker.Problem("broker.nats.sync_interval", "nats-server %s (%s) has no sync_interval (it came in %s): build the one mqcheck embeds with `make nats-server` (the exec target then runs it), or set broker.nats.server to a newer one",
		v, path, syncSince)
}

// execNode is a private nats-server process with its own port and store.
type execNode struct {
	dir    string
	port   int
	log    *slog.Logger
	server string // the binary
	sync   string // sync_interval ("": the server's default)

	slot proc.Slot // the running server, empty while stopped
}

func openExec(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	server, err := FindServer(c.Server)
	if err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	v, err := serverVersion(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	if err := checkSync(c, server, v); err != nil {
		return nil, fmt.Errorf("opening nats target: %w: %w", broker.ErrConfig, err)
	}
	dir := filepath.Join(env.Dir, "nats-server")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	n := &execNode{dir: dir, log: env.Log, server: server, sync: c.SyncInterval}
	if s := c.SyncInterval; s != "" && s != "always" {
		d, err := units.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("opening nats target: %w: broker.nats.sync_interval: %w", broker.ErrConfig, err)
		}
		n.sync = d.D().String() // in the server's syntax
	}
	var errs []error
	for range 3 {
		ports, err := freePorts(1)
		if err != nil {
			return nil, fmt.Errorf("opening nats target: %w", err)
		}
		n.port = ports[0]
		err = n.start(ctx)
		if err == nil {
			errs = nil
			break
		}
		errs = append(errs, err)
		if !errors.Is(err, errExited) || ctx.Err() != nil {
			break
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("opening nats target: %w", errors.Join(errs...))
	}
	addr := "127.0.0.1:" + strconv.Itoa(n.port)
	d, err := newDriver(ctx, c, spec, env, "nats://"+addr, nil)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("opening nats target: %w", err), n.stop(false))
	}
	return &broker.Target{Driver: d, Restarter: n, Endpoints: []string{addr},
		Description: fmt.Sprintf("private nats-server %s (%s) on %s%s, store and log in %s", v, server, addr, syncSaid(c.SyncInterval), dir),
		Close:       func(context.Context) error { return n.stop(false) }}, nil
}

func syncSaid(s string) string {
	if s == "" {
		return ""
	}
	return ", sync_interval " + s
}

var errExited = errors.New("nats-server exited while starting")

func (n *execNode) start(ctx context.Context) error {
	sync := ""
	if n.sync != "" {
		sync = fmt.Sprintf("  sync_interval: %q\n", n.sync)
	}
	conf := fmt.Sprintf("listen: \"127.0.0.1:%d\"\nserver_name: mqcheck\njetstream {\n  store_dir: %q\n%s}\n", n.port, filepath.Join(n.dir, "store"), sync)
	confPath := filepath.Join(n.dir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", confPath, err)
	}
	cmd := exec.Command(n.server, "-c", confPath, "-l", filepath.Join(n.dir, "nats-server.log"))
	out, err := os.OpenFile(filepath.Join(n.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the nats-server console log: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{Tag: "nats-server-" + strconv.Itoa(n.port), Log: n.log})
	if err != nil {
		return fmt.Errorf("starting %s: %w", n.server, err)
	}
	n.slot.Set(p)
	ctx, cancel := context.WithTimeout(ctx, execBoot)
	defer cancel()
	switch err := proc.WaitListening(ctx, p, "127.0.0.1:"+strconv.Itoa(n.port), execPoll); {
	case errors.Is(err, proc.ErrExited):
		_ = n.stop(false)
		return fmt.Errorf("%w on port %d: %s", errExited, n.port, n.tail())
	case err != nil:
		_ = n.stop(false)
		return fmt.Errorf("nats-server: %w; %s", err, n.tail())
	}
	return nil
}

// tail is the end of the server's log, for errors.
func (n *execNode) tail() string {
	if t := proc.Tail(filepath.Join(n.dir, "nats-server.log"), filepath.Join(n.dir, "console.log")); t != "no output" {
		return "its log ends with:\n" + t
	}
	return "no output"
}

func (n *execNode) Nodes() int { return 1 }

// stop ends the process: SIGTERM when graceful (nats-server flushes its
// store), else SIGKILL; always waited for.
func (n *execNode) stop(graceful bool) error {
	return n.slot.Terminate(graceful, execKillWait)
}

func (n *execNode) Stop(_ context.Context, node int, graceful bool) error {
	if err := broker.OneNode("stopping nats-server", node); err != nil {
		return err
	}
	return n.stop(graceful)
}

// Start runs nats-server again on the same port and store.
func (n *execNode) Start(ctx context.Context, node int) error {
	if err := broker.OneNode("starting nats-server", node); err != nil {
		return err
	}
	if n.slot.Get() != nil {
		return nil
	}
	if err := n.start(ctx); err != nil {
		return fmt.Errorf("starting nats-server again: %w", err)
	}
	return nil
}

func (n *execNode) signal(node int, sig syscall.Signal, what string) error {
	if err := broker.OneNode(what+" nats-server", node); err != nil {
		return err
	}
	p := n.slot.Get()
	if p == nil {
		return fmt.Errorf("%s nats-server: it is not running", what)
	}
	if err := p.Signal(sig); err != nil {
		return fmt.Errorf("%s nats-server: %w", what, err)
	}
	return nil
}

// Pause freezes the server (SIGSTOP): connections stay open, nothing
// answers.
func (n *execNode) Pause(_ context.Context, node int) error {
	return n.signal(node, syscall.SIGSTOP, "pausing")
}

// Resume lets it go on (SIGCONT).
func (n *execNode) Resume(_ context.Context, node int) error {
	return n.signal(node, syscall.SIGCONT, "resuming")
}
