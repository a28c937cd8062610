package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/proc"
)

// ExecServer is the nats-server the exec target runs (Debian's package),
// and ExecVersion the version checked here.
const (
	ExecServer  = "/usr/sbin/nats-server"
	ExecVersion = "2.9.10"
)

// Timings of the private server: ready in ~0.1 s on a quiet machine.
const (
	execBoot     = 20 * time.Second
	execPoll     = 20 * time.Millisecond
	execKillWait = 10 * time.Second
)

// ExecInstalled reports why the exec target cannot run here, nil when it can.
func ExecInstalled() error {
	if _, err := os.Stat(ExecServer); err != nil {
		return fmt.Errorf("nats-server is not installed (%s: %w; apt-get install nats-server)", ExecServer, err)
	}
	return nil
}

// execNode is a private nats-server process with its own port and store.
type execNode struct {
	dir  string
	port int
	log  *slog.Logger

	slot proc.Slot // the running server, empty while stopped
}

func openExec(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if err := ExecInstalled(); err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	dir := filepath.Join(env.Dir, "nats-server")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	n := &execNode{dir: dir, log: env.Log}
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
		Description: fmt.Sprintf("private nats-server %s (%s) on %s, store and log in %s", ExecVersion, ExecServer, addr, dir),
		Close:       func(context.Context) error { return n.stop(false) }}, nil
}

var errExited = errors.New("nats-server exited while starting")

func (n *execNode) start(ctx context.Context) error {
	conf := fmt.Sprintf("listen: \"127.0.0.1:%d\"\nserver_name: mqcheck\njetstream {\n  store_dir: %q\n}\n", n.port, filepath.Join(n.dir, "store"))
	confPath := filepath.Join(n.dir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", confPath, err)
	}
	cmd := exec.Command(ExecServer, "-c", confPath, "-l", filepath.Join(n.dir, "nats-server.log"))
	out, err := os.OpenFile(filepath.Join(n.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the nats-server console log: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{Tag: "nats-server-" + strconv.Itoa(n.port), Log: n.log})
	if err != nil {
		return fmt.Errorf("starting %s: %w", ExecServer, err)
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
