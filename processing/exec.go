package processing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mqcheck/mqcheck/internal/freeport"
	"github.com/mqcheck/mqcheck/internal/proc"
	"github.com/mqcheck/mqcheck/internal/redisbin"
)

// Pauser is an optional capability of a Store whose server mqcheck started
// itself (target exec): Pause freezes the server (SIGSTOP), Resume lets it
// go on. Clients wait on it meanwhile, as on a server that stalls.
type Pauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// privateServer is a store's server that mqcheck started for the run.
type privateServer struct {
	p    *proc.Process
	addr string
}

// startRedisServer starts a private redis-server on a free port of
// 127.0.0.1, keeping nothing on disk, its console log in dir.
func startRedisServer(ctx context.Context, dir string) (*privateServer, error) {
	bin, err := redisbin.Find()
	if err != nil {
		return nil, fmt.Errorf("%w: starting a private redis-server: %w", ErrUnreachable, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("starting a private redis-server: %w", err)
	}
	ports, err := freeport.Pick(1)
	if err != nil {
		return nil, fmt.Errorf("starting a private redis-server: %w", err)
	}
	port := ports[0]
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	out, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return nil, fmt.Errorf("starting a private redis-server: %w", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{Tag: "store redis-server " + addr})
	out.Close()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.WaitListening(wctx, p, addr, 20*time.Millisecond); err != nil {
		return nil, errors.Join(fmt.Errorf("%w: the private redis-server on %s: %w", ErrUnreachable, addr, err), p.Stop(5*time.Second))
	}
	return &privateServer{p: p, addr: addr}, nil
}

func (s *privateServer) pause() error  { return s.p.Signal(syscall.SIGSTOP) }
func (s *privateServer) resume() error { return s.p.Signal(syscall.SIGCONT) }
func (s *privateServer) stop() error   { return s.p.Stop(5 * time.Second) }
