// Package natstest gives tests a nats-server of the release mqcheck embeds
// (go.mod's), for the exec target's settings Debian's 2.9.10 lacks
// (sync_interval). It is built from the module cache, as `make
// nats-server` does, once per machine: later calls find it in the user
// cache directory.
package natstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// buildWait bounds the build: ~10 s when the test's own build has compiled
// the server package already (with the same -race flag), ~2 min of CPU
// from nothing.
const buildWait = 5 * time.Minute

var (
	once sync.Once
	path string
	err  error
)

// Server returns the path of a nats-server of nats.ServerVersion, building
// it when the cache lacks it. A failed build fails tb, unless
// MQCHECK_SKIP_BROKERS names nats.
func Server(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { path, err = build() })
	testenv.Require(tb, "nats", err)
	return path
}

// build makes the binary under a lock, since several test processes (one
// per package) may ask at once. A race-enabled test builds it with -race:
// the go build cache then holds the server package compiled already, by
// this test's own build, and only main is left to compile and link (a
// plain build would compile the whole server again, ~2 minutes of CPU).
// The race build is named apart, so that the exec target's default
// (nats.CachedServer) is never the slower race binary.
func build() (string, error) {
	dst := nats.CachedServer()
	args := []string{"build", "-o"}
	if raceEnabled {
		dst += "-race"
		args = append(args, dst+".tmp", "-race")
	} else {
		args = append(args, dst+".tmp")
	}
	args = append(args, "github.com/nats-io/nats-server/v2")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("building nats-server %s: %w", nats.ServerVersion, err)
	}
	lock, err := os.OpenFile(dst+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("building nats-server %s: %w", nats.ServerVersion, err)
	}
	defer lock.Close() // and unlocks
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("building nats-server %s: locking %s: %w", nats.ServerVersion, lock.Name(), err)
	}
	if ok(dst) {
		return dst, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building nats-server %s (go %s): %w\n%s", nats.ServerVersion, strings.Join(args, " "), err, out)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		return "", fmt.Errorf("building nats-server %s: %w", nats.ServerVersion, err)
	}
	if !ok(dst) {
		return "", fmt.Errorf("building nats-server %s: %s does not say it is that version", nats.ServerVersion, dst)
	}
	return dst, nil
}

// ok reports whether the binary at p runs and is the version wanted.
func ok(p string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "--version").Output()
	return err == nil && strings.TrimSpace(string(out)) == "nats-server: v"+nats.ServerVersion
}

// goTool is the go command: the one on PATH, which go test puts first.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go" // exec then says it is missing
}
