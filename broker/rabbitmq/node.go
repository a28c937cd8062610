package rabbitmq

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

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/proc"
)

// Bounds of the exec target's waits. A boot takes 5-13 s on a small
// machine; a graceful stop about a second.
const (
	bootTimeout     = 90 * time.Second
	readyPoll       = 50 * time.Millisecond
	killWait        = 30 * time.Second
	gracefulWait    = 60 * time.Second
	epmdReadyWait   = 10 * time.Second
	startAttempts   = 3
	probeDialWait   = time.Second
	probeHandshake  = 3 * time.Second
	consoleLogName  = "console.log"
	nodeDirPattern  = "rabbitmq-node-"
	serverScriptEnv = "MQCHECK_RABBITMQ_SERVER"
)

// node is a private RabbitMQ node: the installed server's start script run in
// the foreground with an environment of its own (node name, ports, data and
// log directories under the run directory), and a private epmd.
//
// Processes: epmd and the script's sh are mqcheck's children, each started
// through proc (a process group of its own, gone with mqcheck even after a
// kill -9 of mqcheck) and always waited for; the sh forks the Erlang VM
// (beam) and exits when it does.
type node struct {
	base     string // the node's directory
	name     string // mqcheck-<id>@localhost
	amqpPort int
	distPort int
	epmdPort int
	script   string
	epmdBin  string
	env      []string
	keep     bool
	log      *slog.Logger
	version  string // the server's, from its first AMQP connection
	extra    NodeOptions
	// listenerPorts are the ports of extra.Listeners, in order.
	listenerPorts []int

	mu      sync.Mutex
	sh      *proc.Process // nil while stopped
	epmd    *proc.Process
	started []int // every pid this node started (sh, beam, epmd), for tests
}

var (
	_ broker.Restarter = (*node)(nil)
	_ broker.Pauser    = (*node)(nil)
)

// startNode prepares a fresh node directory under dir and boots the node.
// On error nothing it started is left running.
func startNode(ctx context.Context, dir, runID string, keep bool, log *slog.Logger) (*node, error) {
	return startNodeWith(ctx, dir, runID, keep, log, NodeOptions{})
}

func startNodeWith(ctx context.Context, dir, runID string, keep bool, log *slog.Logger, extra NodeOptions) (*node, error) {
	script, epmdBin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		dir = os.TempDir()
	}
	// The node runs in its own directory: a relative HOME or data path
	// would point elsewhere (Erlang fails to write its cookie).
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("locating the run directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the run directory: %w", err)
	}
	var errs []error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		n, err := newNode(dir, runID, script, epmdBin, keep, log, extra)
		if err != nil {
			return nil, err
		}
		err = n.boot(ctx)
		if err == nil {
			return n, nil
		}
		errs = append(errs, err)
		if cerr := n.close(context.WithoutCancel(ctx)); cerr != nil {
			errs = append(errs, cerr)
		}
		// Only a node that died at once (another process took a port in
		// the meantime) is worth another try with new ports.
		if !errors.Is(err, errExitedEarly) || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

var errExitedEarly = errors.New("the node exited while booting")

func newNode(dir, runID, script, epmdBin string, keep bool, log *slog.Logger, extra NodeOptions) (*node, error) {
	base, err := os.MkdirTemp(dir, nodeDirPattern)
	if err != nil {
		return nil, fmt.Errorf("creating the node directory: %w", err)
	}
	ports, err := freePorts(3 + len(extra.Listeners))
	if err != nil {
		return nil, err
	}
	n := &node{
		base: base, name: "mqcheck-" + nodeID(runID) + "@localhost",
		amqpPort: ports[0], distPort: ports[1], epmdPort: ports[2],
		script: script, epmdBin: epmdBin, keep: keep, log: log,
		extra: extra, listenerPorts: ports[3:],
	}
	if err := n.prepare(); err != nil {
		return nil, err
	}
	return n, nil
}

// boot starts epmd and the node and waits until the node takes AMQP
// connections.
func (n *node) boot(ctx context.Context) error {
	if err := n.startEPMD(ctx); err != nil {
		return err
	}
	return n.startServer(ctx)
}

func (n *node) startEPMD(ctx context.Context) error {
	cmd := exec.Command(n.epmdBin, "-port", strconv.Itoa(n.epmdPort), "-address", "127.0.0.1")
	p, err := n.start(cmd)
	if err != nil {
		return fmt.Errorf("starting epmd: %w", err)
	}
	done := p.Done()
	n.mu.Lock()
	n.epmd = p
	n.started = append(n.started, p.Pid())
	n.mu.Unlock()
	deadline := time.Now().Add(epmdReadyWait)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.epmdPort))
	for {
		c, err := net.DialTimeout("tcp", addr, probeDialWait)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%w: epmd on port %d exited: %s", errExitedEarly, n.epmdPort, n.tail())
		case <-ctx.Done():
			return fmt.Errorf("waiting for epmd on port %d: %w", n.epmdPort, ctx.Err())
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("epmd did not listen on port %d within %s", n.epmdPort, epmdReadyWait)
		}
	}
}

// console opens the file the node's and epmd's output go to.
func (n *node) console() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(n.base, "log", consoleLogName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the node's console log: %w", err)
	}
	return f, nil
}

// startServer runs the start script and waits until the node is ready.
func (n *node) startServer(ctx context.Context) error {
	// A pid file of the previous run of this node would name a dead (or
	// reused) pid.
	_ = os.Remove(filepath.Join(n.base, "pid"))
	p, err := n.start(exec.Command(n.script))
	if err != nil {
		return fmt.Errorf("starting %s: %w", n.script, err)
	}
	n.mu.Lock()
	n.sh = p
	n.started = append(n.started, p.Pid())
	n.mu.Unlock()
	return n.waitReady(ctx, p.Done())
}

// start runs one of the node's programs in the node's directory and
// environment, its output to the console log, through proc: its own
// process group, gone with mqcheck even when mqcheck is killed.
func (n *node) start(cmd *exec.Cmd) (*proc.Process, error) {
	cmd.Dir = n.base
	cmd.Env = n.env
	out, err := n.console()
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = out, out
	return proc.Start(cmd, proc.Options{Tag: n.name, Log: n.log})
}

// waitReady dials AMQP every readyPoll until the node answers.
func (n *node) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	url := n.url()
	var last error
	for {
		conn, err := amqp.DialConfig(url, amqp.Config{
			Locale: "en_US",
			Dial: func(network, addr string) (net.Conn, error) {
				c, err := net.DialTimeout(network, addr, probeDialWait)
				if err != nil {
					return nil, err
				}
				return c, c.SetDeadline(time.Now().Add(probeHandshake))
			},
		})
		if err == nil {
			if v, ok := conn.Properties["version"].(string); ok {
				n.version = v
			}
			_ = conn.CloseDeadline(time.Now().Add(closeWait))
			n.recordBeam()
			return nil
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("%w: node %s on 127.0.0.1:%d: %s", errExitedEarly, n.name, n.amqpPort, n.tail())
		case <-ctx.Done():
			return fmt.Errorf("node %s on 127.0.0.1:%d did not take AMQP connections (last: %v): %w; %s",
				n.name, n.amqpPort, last, ctx.Err(), n.tail())
		case <-time.After(readyPoll):
		}
	}
}

// recordBeam remembers the VM's pid for tests that check nothing is left.
func (n *node) recordBeam() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if pid := n.beamPID(); pid > 0 {
		n.started = append(n.started, pid)
	}
}

func (n *node) url() string {
	return fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", execUser, execPassword, n.amqpPort)
}

// tail is the end of the node's logs, for errors.
func (n *node) tail() string {
	var parts []string
	for _, f := range []string{filepath.Join(n.base, "log", consoleLogName), filepath.Join(n.base, "log", n.name+".log")} {
		b, err := os.ReadFile(f)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if len(b) > 1500 {
			b = b[len(b)-1500:]
		}
		parts = append(parts, fmt.Sprintf("%s ends with:\n%s", filepath.Base(f), bytes.TrimSpace(b)))
	}
	if len(parts) == 0 {
		return "no log output"
	}
	return strings.Join(parts, "\n")
}

// beamPID is the Erlang VM's pid: the pid file's, if the file is this
// incarnation's (its process is a child of our sh), else the sh's child.
// Called with n.mu held; 0 when there is none.
func (n *node) beamPID() int {
	if n.sh == nil {
		return 0
	}
	sh := n.sh.Pid()
	if b, err := os.ReadFile(filepath.Join(n.base, "pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && parentOf(pid) == sh {
			return pid
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", sh, sh))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			return pid
		}
	}
	return 0
}

// parentOf reads a process's parent pid from /proc; 0 if it is gone.
func parentOf(pid int) int {
	_, ppid, _ := procStat(pid)
	return ppid
}

// procStat reads a process's state letter, parent pid and command name from
// /proc; a zero state if it is gone.
func procStat(pid int) (state byte, ppid int, comm string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, ""
	}
	// The command name is in parentheses and may hold spaces.
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return 0, 0, ""
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, string(b[i+1 : j])
}

func (n *node) Nodes() int { return 1 }

// Stop takes the node down: kill -9 of the VM, or SIGTERM to the start
// script, which stops the node gracefully. It returns once the script has
// exited.
func (n *node) Stop(ctx context.Context, node int, graceful bool) error {
	if err := broker.OneNode("stopping rabbitmq", node); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked(ctx, graceful)
}

func (n *node) stopLocked(ctx context.Context, graceful bool) error {
	if n.sh == nil {
		return nil
	}
	sh := n.sh
	wait := killWait
	beam := n.beamPID()
	switch {
	case graceful:
		wait = gracefulWait
		_ = sh.Signal(syscall.SIGTERM)
		if beam > 0 {
			// A paused VM would never see the script's SIGTERM.
			_ = syscall.Kill(beam, syscall.SIGCONT)
		}
	case beam > 0:
		_ = syscall.Kill(beam, syscall.SIGKILL)
	default:
		_ = syscall.Kill(-sh.Pid(), syscall.SIGKILL)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-sh.Done():
	case <-ctx.Done():
		err = fmt.Errorf("stopping node %s: %w", n.name, ctx.Err())
	case <-t.C:
		err = fmt.Errorf("node %s did not stop within %s; killed", n.name, wait)
	}
	// Whatever is left of the group goes too, and the stop always ends
	// with the script waited for.
	if serr := sh.Stop(killWait); serr != nil {
		return errors.Join(err, fmt.Errorf("node %s: %w", n.name, serr))
	}
	n.sh = nil
	return err
}

// Pause freezes the Erlang VM (SIGSTOP): connections stay open and nothing
// answers, until heartbeats time out.
func (n *node) Pause(_ context.Context, node int) error {
	return n.signalVM(node, syscall.SIGSTOP, "pausing")
}

// Resume lets a paused VM go on (SIGCONT).
func (n *node) Resume(_ context.Context, node int) error {
	return n.signalVM(node, syscall.SIGCONT, "resuming")
}

func (n *node) signalVM(node int, sig syscall.Signal, what string) error {
	if err := broker.OneNode(what+" rabbitmq", node); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	pid := n.beamPID()
	if pid == 0 {
		return fmt.Errorf("%s node %s: it is not running", what, n.name)
	}
	// A pause that did not take would let a test or a fault window see a
	// node answering while it is said to be frozen: signal only the VM,
	// and return once the kernel shows it stopped (or running again).
	if _, _, comm := procStat(pid); !strings.HasPrefix(comm, "beam") {
		return fmt.Errorf("%s node %s: pid %d is %q, not the Erlang VM", what, n.name, pid, comm)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("%s node %s (pid %d): %w", what, n.name, pid, err)
	}
	deadline := time.Now().Add(signalWait)
	for {
		state, _, _ := procStat(pid)
		stopped := state == 'T' || state == 't'
		if stopped == (sig == syscall.SIGSTOP) {
			return nil
		}
		if state == 0 || state == 'Z' || time.Now().After(deadline) {
			return fmt.Errorf("%s node %s (pid %d): its state is %q %s after the signal", what, n.name, pid, state, signalWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// signalWait bounds how long a SIGSTOP or SIGCONT may take to show in
// /proc (microseconds, unless the machine is starved).
const signalWait = 2 * time.Second

// Start boots the node again on the same ports and data.
func (n *node) Start(ctx context.Context, node int) error {
	if err := broker.OneNode("starting rabbitmq", node); err != nil {
		return err
	}
	n.mu.Lock()
	running := n.sh != nil
	n.mu.Unlock()
	if running {
		return nil
	}
	if err := n.startServer(ctx); err != nil {
		return fmt.Errorf("starting node %s again: %w", n.name, err)
	}
	return nil
}

// close stops the node (gracefully when its data is kept) and epmd, and
// removes the node's data unless kept; its logs stay in the run directory.
func (n *node) close(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	errs := []error{n.stopLocked(ctx, n.keep)}
	if n.epmd != nil {
		if err := n.epmd.Stop(killWait); err != nil {
			errs = append(errs, fmt.Errorf("stopping epmd: %w", err))
		}
		n.epmd = nil
	}
	if !n.keep {
		for _, d := range []string{"mnesia", "home"} {
			if err := os.RemoveAll(filepath.Join(n.base, d)); err != nil {
				errs = append(errs, fmt.Errorf("removing the node's data: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// pids lists every process the node started so far.
func (n *node) pids() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]int(nil), n.started...)
}

func (n *node) describe() string {
	v := n.version
	if v == "" {
		v = "(version unknown)"
	}
	// Described when it starts and read after the run: say what becomes
	// of the data.
	data := "logs and data in " + n.base + ", the data removed at the end (broker.keep: true keeps it)"
	if n.keep {
		data = "logs and data kept in " + n.base
	}
	return fmt.Sprintf("private RabbitMQ %s node %s on 127.0.0.1:%d (%s)", v, n.name, n.amqpPort, data)
}
