package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/mqcheck/mqcheck/broker"
)

// pingTimeout bounds the engine's first answer: a socket nobody serves
// must fail the run in seconds, not at the open timeout.
const pingTimeout = 3 * time.Second

var quietOnce sync.Once

// ErrNoEngine: no Docker-compatible engine answers. It wraps
// broker.ErrUnreachable, so mqcheck exits 3.
var ErrNoEngine = fmt.Errorf("%w: no container engine", broker.ErrUnreachable)

// sockets are where Docker and Podman put their API sockets, in the order
// they are looked at when DOCKER_HOST is unset.
func sockets() []string {
	out := []string{"/var/run/docker.sock", "/run/podman/podman.sock"}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		out = append(out, filepath.Join(d, "docker.sock"), filepath.Join(d, "podman", "podman.sock"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(h, ".docker", "run", "docker.sock"))
	}
	return out
}

// findEngine says which engine testcontainers-go will use: DOCKER_HOST
// when set, else the Docker socket it finds by itself. A Podman socket
// alone is not enough, as testcontainers-go does not look for it: the
// error says which variable to set.
func findEngine() (string, error) {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if p, ok := strings.CutPrefix(h, "unix://"); ok {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("%w: DOCKER_HOST=%s, and %s does not exist", ErrNoEngine, h, p)
			}
		}
		return h, nil
	}
	all := sockets()
	for _, s := range all {
		if _, err := os.Stat(s); err != nil {
			continue
		}
		if strings.Contains(s, "podman") {
			return "", fmt.Errorf("%w: DOCKER_HOST is unset and only Podman's socket exists; export DOCKER_HOST=unix://%s (and TESTCONTAINERS_RYUK_DISABLED=true)", ErrNoEngine, s)
		}
		return "unix://" + s, nil
	}
	return "", fmt.Errorf("%w: DOCKER_HOST is unset and none of %s exists (start Docker, or Podman's API socket: podman system service --time=0 unix:///run/podman/podman.sock, then export DOCKER_HOST)",
		ErrNoEngine, strings.Join(all, ", "))
}

// connect finds the engine and checks that it answers, with a ping of
// its own first: testcontainers-go panics when its first call to an
// engine fails.
func connect(ctx context.Context) (cli *testcontainers.DockerClient, host string, err error) {
	host, err = findEngine()
	if err != nil {
		return nil, "", err
	}
	raw, err := client.New(client.FromEnv)
	if err != nil {
		return nil, "", fmt.Errorf("%w at %s (DOCKER_HOST): %w", ErrNoEngine, host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	_, err = raw.Ping(pctx, client.PingOptions{})
	cancel()
	_ = raw.Close()
	if err != nil {
		if errors.Is(pctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", pingTimeout, err)
		}
		return nil, "", fmt.Errorf("%w at %s (DOCKER_HOST): %w", ErrNoEngine, host, err)
	}
	defer func() {
		if p := recover(); p != nil {
			cli, err = nil, fmt.Errorf("%w at %s: testcontainers-go: %v", ErrNoEngine, host, p)
		}
	}()
	// Its global logger writes to stderr; each container's own goes to
	// the run's log (create).
	quietOnce.Do(func() { tclog.SetDefault(tcLogger{}) })
	cli, err = testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w at %s: %w", ErrNoEngine, host, err)
	}
	return cli, host, nil
}
