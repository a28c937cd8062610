package redis_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/units"
)

// requireServer fails the test without redis-server, unless
// MQCHECK_SKIP_BROKERS names redis: then it skips.
func requireServer(t testing.TB) {
	t.Helper()
	_, err := redis.FindServer()
	testenv.Require(t, "redis", err)
}

// fast is a configuration for tests: entries idle for 1s are claimed, reads
// block 200ms.
func fast() *redis.Config {
	idle, block := units.Duration(time.Second), units.Duration(200*time.Millisecond)
	return &redis.Config{MinIdle: &idle, Block: &block}
}

// closeTarget closes the driver and the target at the end of the test.
func closeTarget(t testing.TB, tgt *broker.Target) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tgt.Driver.Close(ctx); err != nil {
			t.Errorf("closing the driver: %v", err)
		}
		if err := tgt.Close(ctx); err != nil {
			t.Errorf("closing the target: %v", err)
		}
	})
}

// startTestServer starts a redis-server of the test's own on a free port,
// with args added (TLS, a password), and returns its port once it takes
// connections; portFlag is the flag the port goes to (--port, --tls-port).
func startTestServer(t *testing.T, portFlag string, args ...string) (port int, dir string) {
	t.Helper()
	requireServer(t)
	bin, _ := redis.FindServer()
	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	all := append([]string{portFlag, strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(dir, "log")}, args...)
	if portFlag != "--port" {
		all = append(all, "--port", "0")
	}
	cmd := exec.Command(bin, all...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return port, dir
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("the test's redis-server did not start: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
