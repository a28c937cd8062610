// Package container is the container target every broker kind shares:
// it starts a broker image with testcontainers-go on a Docker-compatible
// engine (Docker, or Podman's API socket), maps its ports to free ports
// on 127.0.0.1, waits until the broker answers its protocol, restarts,
// kills and pauses it for faults, and removes it at the end.
package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/proc"
)

// Kind is what a broker kind tells the container target about its
// broker.
type Kind struct {
	// Name of the kind ("rabbitmq"), for messages and labels.
	Name string
	// Ports the broker listens on inside the container by default
	// ("5672/tcp"), in the order Ready and Container.Addrs use.
	Ports []string
	// Ready is the protocol check: it returns nil once the broker at
	// addrs (host:port on 127.0.0.1, in Ports' order) answers as a broker
	// of the kind. It is called until it does, each call bounded by ctx.
	Ready func(ctx context.Context, addrs []string) error
	// ReadyTimeout bounds the wait for Ready after a start (0: 3 minutes;
	// an Erlang broker in a container takes up to a minute on 2 cores).
	ReadyTimeout time.Duration
	// FixedPorts: the kind configures its listeners itself (Configure), so
	// broker.ports is a scenario error.
	FixedPorts bool
	// Configure, when set, adjusts what is started once the host
	// addresses are known, before the container is created (Kafka
	// advertises the host address). It must not change the caller's maps.
	Configure func(addrs []string, cs *broker.ContainerSpec) error
}

// Labels every container mqcheck starts carries (and, unless kept, the
// owner labels: leftovers.go).
const (
	labelRun  = "org.mqcheck.run"
	labelKind = "org.mqcheck.kind"
	labelDir  = "org.mqcheck.dir"
)

// pollEvery is the pace of Ready checks.
const pollEvery = 200 * time.Millisecond

// Container is one running broker container; it is the target's
// Restarter and Pauser (one node).
type Container struct {
	kind  Kind
	tc    testcontainers.Container
	cli   client.APIClient
	keep  bool
	log   func(msg string, args ...any)
	ports []network.Port

	// Addrs are the broker's addresses on 127.0.0.1, in Kind.Ports' order.
	// They stay the same across restarts: the host ports are chosen by
	// mqcheck, and Start fails if the engine moved them.
	Addrs []string
	Info  broker.ContainerInfo

	mu     sync.Mutex // serializes engine calls of faults and Close
	closed bool
}

// Start starts spec's image for kind and waits until Ready answers.
// Errors: broker.ErrConfig for a spec the kind cannot use (exit 2);
// broker.ErrUnreachable without an engine or the image (exit 3).
func Start(ctx context.Context, kind Kind, spec broker.ContainerSpec, keep bool, env broker.Env) (*Container, error) {
	if err := errors.Join(CheckImage("broker.image", spec.Image), CheckPorts("broker.ports", spec.Ports, kind.Ports, kind.FixedPorts),
		CheckMounts("broker.mounts", spec.Mounts)); err != nil {
		return nil, fmt.Errorf("%w: %w", broker.ErrConfig, err)
	}
	cli, host, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{labelRun: env.RunID, labelKind: kind.Name, labelDir: env.Dir}
	if self, err := proc.Self(); err != nil {
		// The container still goes at the end of the run; only a later
		// run could not remove it after a kill.
		if env.Log != nil {
			env.Log.Warn("the container will not name its owner", "err", err)
		}
	} else {
		sweepLeftovers(ctx, cli, self, env.Log)
		// A kept container outlives its owner on purpose: no owner, no
		// sweep.
		if !keep {
			maps.Copy(labels, ownerLabels(self))
		}
	}
	imageID, digest, err := ensureImage(ctx, cli, spec.Image)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	names := kind.Ports
	if len(spec.Ports) > 0 {
		names = spec.Ports
	}
	c := &Container{kind: kind, cli: cli, keep: keep, log: func(string, ...any) {}}
	if env.Log != nil {
		c.log = env.Log.Info
	}
	bindings := network.PortMap{}
	exposed := make([]string, len(names))
	for i, name := range names {
		if !strings.Contains(name, "/") {
			name += "/tcp"
		}
		p, err := network.ParsePort(name)
		if err != nil {
			_ = cli.Close()
			return nil, fmt.Errorf("%w: broker.ports: %q: %w", broker.ErrConfig, name, err)
		}
		hp, err := broker.FreePort()
		if err != nil {
			_ = cli.Close()
			return nil, fmt.Errorf("choosing a host port for %s: %w", name, err)
		}
		// Loopback only: nothing of a test run leaves the machine.
		bindings[p] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(hp)}}
		exposed[i] = name
		c.ports = append(c.ports, p)
		c.Addrs = append(c.Addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(hp)))
	}
	if kind.Configure != nil {
		if err := kind.Configure(c.Addrs, &spec); err != nil {
			_ = cli.Close()
			return nil, fmt.Errorf("%w: %w", broker.ErrConfig, err)
		}
	}
	req := testcontainers.ContainerRequest{
		Image:        spec.Image,
		Env:          spec.Env,
		Cmd:          spec.Command,
		ExposedPorts: exposed,
		Labels:       labels,
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.PortBindings = bindings
			hc.Binds = append(hc.Binds, spec.Mounts...)
		},
	}
	started := time.Now()
	c.Info = broker.ContainerInfo{Image: spec.Image, ImageID: imageID, Digest: digest, StartedNS: started.UnixNano(), Started: started}
	tc, err := create(ctx, req, env.Log)
	if tc != nil {
		c.tc = tc
		c.Info.ID = tc.GetContainerID()
	}
	if err != nil {
		err = fmt.Errorf("%w: starting %s on %s: %w", broker.ErrUnreachable, spec.Image, host, err)
		return nil, errors.Join(err, c.remove(context.WithoutCancel(ctx)))
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, errors.Join(err, c.remove(context.WithoutCancel(ctx)))
	}
	c.Info.ReadyMS = time.Since(started).Milliseconds()
	c.log("container ready", "image", spec.Image, "id", short(c.Info.ID), "addrs", c.Addrs, "ready_ms", c.Info.ReadyMS)
	return c, nil
}

// create has testcontainers-go create and start the container; a panic
// of its own (it has some for engines that stop answering) is an error.
func create(ctx context.Context, req testcontainers.ContainerRequest, lg *slog.Logger) (tc testcontainers.Container, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("testcontainers-go: %v", p)
		}
	}()
	return testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true, Logger: tcLogger{lg}})
}

// tcLogger puts testcontainers-go's chatter in the run's log at debug
// level, off the terminal.
type tcLogger struct{ l *slog.Logger }

func (t tcLogger) Printf(format string, v ...any) {
	if t.l != nil {
		t.l.Debug("testcontainers: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}

// waitReady calls Ready until it answers, the container stops, or the
// timeout; its error carries the container's last log lines.
func (c *Container) waitReady(ctx context.Context) error {
	limit := c.kind.ReadyTimeout
	if limit <= 0 {
		limit = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = c.kind.Ready(cctx, c.Addrs)
		ccancel()
		if last == nil {
			return nil
		}
		if st, err := c.tc.State(ctx); err == nil && !st.Running {
			return fmt.Errorf("%w: container %s of %s exited (code %d) before %s answered: %v%s", broker.ErrUnreachable,
				short(c.Info.ID), c.Info.Image, st.ExitCode, c.kind.Name, last, c.tail(context.WithoutCancel(ctx)))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s in container %s of %s did not answer within %s: %v%s", broker.ErrUnreachable,
				c.kind.Name, short(c.Info.ID), c.Info.Image, limit, last, c.tail(context.WithoutCancel(ctx)))
		case <-time.After(pollEvery):
		}
	}
}

// tail is the container's last log lines, for an error.
func (c *Container) tail(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rc, err := c.tc.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "; its log ends:\n" + strings.Join(lines, "\n")
}

// Description says what runs where, for the report.
func (c *Container) Description() string {
	s := fmt.Sprintf("container %s of %s (image %s", short(c.Info.ID), c.Info.Image, short(strings.TrimPrefix(c.Info.ImageID, "sha256:")))
	if c.Info.Digest != "" {
		s += ", " + c.Info.Digest
	}
	return s + ") on " + strings.Join(c.Addrs, ",")
}

// Nodes: a container is one node.
func (c *Container) Nodes() int { return 1 }

// Stop kills the container (SIGKILL), or stops it gracefully (SIGTERM,
// then SIGKILL after the engine's 10 s).
func (c *Container) Stop(ctx context.Context, _ int, graceful bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.Info.ID
	if graceful {
		t := 10
		if _, err := c.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &t}); err != nil {
			return fmt.Errorf("stopping container %s: %w", short(id), err)
		}
		return nil
	}
	if _, err := c.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("killing container %s: %w", short(id), err)
	}
	// The engine answers the kill before the container is down.
	w := c.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-w.Result:
		return nil
	case err := <-w.Error:
		return fmt.Errorf("waiting for killed container %s: %w", short(id), err)
	case <-ctx.Done():
		return fmt.Errorf("waiting for killed container %s: %w", short(id), ctx.Err())
	}
}

// Start starts the container again with its data, re-reads its port
// mappings, and waits until the broker answers.
func (c *Container) Start(ctx context.Context, _ int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.cli.ContainerStart(ctx, c.Info.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting container %s again: %w", short(c.Info.ID), err)
	}
	for i, p := range c.ports {
		mp, err := c.tc.MappedPort(ctx, p.String())
		if err != nil {
			return fmt.Errorf("reading container %s's port %s after a restart: %w", short(c.Info.ID), p, err)
		}
		if want := c.Addrs[i]; net.JoinHostPort("127.0.0.1", mp.Port()) != want {
			return fmt.Errorf("container %s's port %s moved to %s after a restart; clients dial %s", short(c.Info.ID), p, mp.Port(), want)
		}
	}
	return c.waitReady(ctx)
}

// Pause freezes the container's processes (cgroup freezer).
func (c *Container) Pause(ctx context.Context, _ int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// runc's freeze of a busy cgroup can fail now and then (seen once in
	// a full test run on this host's hybrid cgroups, ending the run with
	// exit 3): a failed freeze leaves the container running, so another
	// try is safe; a container that shows paused after an error is.
	var err error
	for try := range pauseTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("pausing container %s: %w", short(c.Info.ID), errors.Join(err, ctx.Err()))
			case <-time.After(pauseRetryWait):
			}
		}
		if _, err = c.cli.ContainerPause(ctx, c.Info.ID, client.ContainerPauseOptions{}); err == nil {
			return nil
		}
		if st, serr := c.tc.State(ctx); serr == nil && st.Paused {
			return nil
		}
	}
	return fmt.Errorf("pausing container %s (%d tries): %w", short(c.Info.ID), pauseTries, err)
}

// pauseTries and pauseRetryWait bound Pause's tries of a freeze.
const (
	pauseTries     = 3
	pauseRetryWait = 250 * time.Millisecond
)

// Resume thaws what Pause froze. A container no longer paused (killed
// and started again by an overlapping restart) has nothing to thaw.
func (c *Container) Resume(ctx context.Context, _ int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, err := c.tc.State(ctx); err == nil && !st.Paused {
		return nil
	}
	if _, err := c.cli.ContainerUnpause(ctx, c.Info.ID, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("resuming container %s: %w", short(c.Info.ID), err)
	}
	return nil
}

// Close removes the container and its anonymous volumes, unless keep,
// which leaves it running for inspection.
func (c *Container) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.keep {
		c.log("container kept (broker.keep)", "id", short(c.Info.ID), "addrs", c.Addrs)
		return c.cli.Close()
	}
	return c.remove(ctx)
}

// remove terminates the container, if one was created, and closes the
// engine client.
func (c *Container) remove(ctx context.Context) error {
	var err error
	if c.tc != nil {
		if terr := c.tc.Terminate(ctx, testcontainers.RemoveVolumes()); terr != nil {
			err = fmt.Errorf("removing container %s: %w", short(c.Info.ID), terr)
		}
	}
	return errors.Join(err, c.cli.Close())
}

// CheckMounts refuses a bind mount that is not "/host:/container[:ro|:rw]":
// validate and run refuse the same ones (a relative host path would
// depend on where the engine runs, not on the scenario).
func CheckMounts(field string, ms []string) error {
	for _, m := range ms {
		parts := strings.Split(m, ":")
		ok := (len(parts) == 2 || (len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"))) &&
			strings.HasPrefix(parts[0], "/") && strings.HasPrefix(parts[1], "/")
		if !ok {
			return broker.Problem(field, "%q: want /host/path:/container/path, optionally :ro", m)
		}
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

var (
	_ broker.Restarter = (*Container)(nil)
	_ broker.Pauser    = (*Container)(nil)
)

// Dial connects to addr for a Ready check, the connection bounded by
// ctx's deadline.
func Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return c, nil
}
