package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/proc"
	"github.com/mqcheck/mqcheck/internal/redisbin"
)

// ServerEnv names a redis-server binary to use instead of the one on PATH.
const ServerEnv = redisbin.Env

// Bounds of the exec target's waits. A boot takes milliseconds; loading a
// large AOF longer.
const (
	bootTimeout   = 60 * time.Second
	readyPoll     = 20 * time.Millisecond
	stopWait      = 30 * time.Second
	startAttempts = 3
	logName       = "redis.log"
)

// FindServer locates redis-server: ServerEnv, else PATH, else Debian's
// /usr/bin/redis-server. The error says how to get one.
func FindServer() (string, error) {
	p, err := redisbin.Find()
	if errors.Is(err, redisbin.ErrNotFound) {
		return "", errors.New("redis-server is not installed: target exec (the default) starts a private one; install Debian's redis-server package (apt-get install redis-server), set " +
			ServerEnv + " to a redis-server binary, or use broker.target: embedded (miniredis, no restarts)")
	}
	return p, err
}

// server is a private redis-server: its own directory under the run
// directory, a free port, the scenario's persistence settings.
type server struct {
	bin, dir string
	port     int
	args     []string
	env      broker.Env
	version  string

	mu sync.Mutex
	p  *proc.Process // nil while stopped
	// replicaOf is the primary's address when the server starts as a
	// replica; "" for a primary.
	replicaOf string
}

// startServer starts a server, a replica of replicaOf unless that is "".
func startServer(ctx context.Context, cfg *Config, env broker.Env, replicaOf string) (*server, error) {
	bin, err := FindServer()
	if err != nil {
		return nil, err
	}
	root, err := broker.RunDir(env.Dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	for range startAttempts {
		dir, err := os.MkdirTemp(root, "redis-")
		if err != nil {
			return nil, fmt.Errorf("creating the server directory: %w", err)
		}
		port, err := broker.FreePort()
		if err != nil {
			return nil, err
		}
		s := &server{bin: bin, dir: dir, port: port, env: env, args: serverArgs(cfg, port, dir), replicaOf: replicaOf}
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		// Another process may have taken the port: try another.
		if !errors.Is(err, errExited) || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// serverArgs is the server's configuration on its command line.
func serverArgs(cfg *Config, port int, dir string) []string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	return []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--dir", dir, "--logfile", logName, "--daemonize", "no",
		"--appendonly", yes(cfg.Appendonly), "--appendfsync", cfg.Appendfsync,
		"--save", cfg.Save,
		// A client that stopped reading (a paused consumer) must not be
		// disconnected by the server's output limits under load.
		"--client-output-buffer-limit", "normal 0 0 0",
	}
}

var errExited = errors.New("redis-server exited while starting")

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// start runs the server through proc and waits until it answers PING
// (after loading its AOF or RDB).
func (s *server) start(ctx context.Context) error {
	args := s.args
	if s.replicaOf != "" {
		host, port, _ := net.SplitHostPort(s.replicaOf)
		args = append(args[:len(args):len(args)], "--replicaof", host, port)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the server's console log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{Tag: "redis-server " + s.addr(), Log: s.env.Log})
	out.Close()
	if err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	if err := s.waitReady(ctx, p.Done()); err != nil {
		s.mu.Lock()
		_ = p.Stop(stopWait)
		s.p = nil
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: time.Second, DisableIdentity: true, PoolSize: 1})
	defer c.Close()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		last = c.Ping(pctx).Err()
		pcancel()
		if last == nil {
			if s.version == "" {
				s.version = serverVersion(ctx, c)
			}
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%w: on %s: %s", errExited, s.addr(), s.tail())
		case <-ctx.Done():
			return fmt.Errorf("redis-server on %s did not answer PING (last: %v): %w; %s", s.addr(), last, ctx.Err(), s.tail())
		case <-time.After(readyPoll):
		}
	}
}

func serverVersion(ctx context.Context, c *goredis.Client) string {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
			return v
		}
	}
	return ""
}

// tail is the end of the server's log, for errors.
func (s *server) tail() string {
	var parts []string
	for _, f := range []string{"console.log", logName} {
		b, err := os.ReadFile(filepath.Join(s.dir, f))
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if len(b) > 1500 {
			b = b[len(b)-1500:]
		}
		parts = append(parts, f+" ends with:\n"+string(bytes.TrimSpace(b)))
	}
	if len(parts) == 0 {
		return "no log output"
	}
	return strings.Join(parts, "\n")
}

// stop kills the server (SIGKILL: what it had not written to disk is gone)
// or shuts it down (SIGTERM: it fsyncs its AOF and saves its RDB where
// configured), and returns once it exited.
func (s *server) stop(ctx context.Context, graceful bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx, graceful)
}

func (s *server) stopLocked(ctx context.Context, graceful bool) error {
	p := s.p
	if p == nil {
		return nil
	}
	var err error
	if graceful {
		_ = p.Signal(syscall.SIGTERM)
		// A paused server would never see it.
		_ = p.Signal(syscall.SIGCONT)
		t := time.NewTimer(stopWait)
		select {
		case <-p.Done():
		case <-ctx.Done():
			err = fmt.Errorf("shutting down redis-server on %s: %w", s.addr(), ctx.Err())
		case <-t.C:
			err = fmt.Errorf("redis-server on %s did not shut down within %s; killed", s.addr(), stopWait)
		}
		t.Stop()
	}
	if serr := p.Stop(stopWait); serr != nil {
		err = errors.Join(err, fmt.Errorf("redis-server on %s: %w", s.addr(), serr))
	}
	s.p = nil
	return err
}

// running reports whether the server was started and not stopped.
func (s *server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p != nil
}

// startAgain starts a stopped server on its port and directory, as a
// replica of replicaOf ("" for a primary).
func (s *server) startAgain(ctx context.Context, replicaOf string) error {
	if s.running() {
		return nil
	}
	s.mu.Lock()
	s.replicaOf = replicaOf
	s.mu.Unlock()
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("starting redis-server on %s again: %w", s.addr(), err)
	}
	return nil
}

// signal sends sig to the running server (SIGSTOP pauses it).
func (s *server) signal(sig syscall.Signal, what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return fmt.Errorf("%s redis-server on %s: it is not running", what, s.addr())
	}
	if err := s.p.Signal(sig); err != nil {
		return fmt.Errorf("%s redis-server on %s: %w", what, s.addr(), err)
	}
	return nil
}

// pid is the running server's, 0 when stopped (for tests).
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return 0
	}
	return s.p.Pid()
}

// close kills the server and removes its data unless kept; logs stay.
func (s *server) close(ctx context.Context, keep bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.stopLocked(ctx, false)
	if !keep {
		for _, f := range []string{"appendonly", "dump.rdb"} {
			if rerr := os.RemoveAll(filepath.Join(s.dir, f)); rerr != nil {
				err = errors.Join(err, fmt.Errorf("removing the server's data: %w", rerr))
			}
		}
	}
	return err
}

func (s *server) describe() string {
	v := s.version
	if v == "" {
		v = "(version unknown)"
	}
	role := ""
	if s.replicaOf != "" {
		role = " replica of " + s.replicaOf
	}
	return fmt.Sprintf("private redis-server %s on %s%s (%s; logs in %s)", v, s.addr(), role, strings.Join(s.persistence(), ", "), s.dir)
}

// persistence says the server's persistence settings, from its arguments.
func (s *server) persistence() []string {
	var out []string
	for i := 0; i+1 < len(s.args); i++ {
		switch s.args[i] {
		case "--appendonly", "--appendfsync":
			out = append(out, strings.TrimPrefix(s.args[i], "--")+" "+s.args[i+1])
		case "--save":
			v := s.args[i+1]
			if v == "" {
				v = `""`
			}
			out = append(out, "save "+v)
		}
	}
	return out
}
