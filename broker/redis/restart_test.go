package redis_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
)

// TestAbilities: what each target declares is what Open returns.
func TestAbilities(t *testing.T) {
	t.Parallel()
	requireServer(t)
	ctx := context.Background()
	for _, target := range []string{broker.TargetExec, broker.TargetEmbedded} {
		tgt, err := redis.Open(ctx, nil, broker.Spec{Target: target}, broker.Env{RunID: "abilities-" + target, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		closeTarget(t, tgt)
		if err := redis.Abilities(nil, target).Check(tgt); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
}

// TestServerFaults: a paused server answers nothing until resumed; a
// graceful restart keeps the AOF's entries; Close leaves no process.
func TestServerFaults(t *testing.T) {
	t.Parallel()
	requireServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tgt, err := redis.Open(ctx, &redis.Config{Appendonly: true}, broker.Spec{Target: broker.TargetExec, Destination: "faults"},
		broker.Env{RunID: "faults", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: tgt.Endpoints[0], MaxRetries: -1, DisableIdentity: true, ReadTimeout: 300 * time.Millisecond})
	defer c.Close()
	if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: "faults", Values: []any{"m", "1"}}).Err(); err != nil {
		t.Fatal(err)
	}
	pauser := tgt.Restarter.(broker.Pauser)
	if err := pauser.Pause(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("a paused server answered PING")
	}
	if err := pauser.Resume(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Restarter.Stop(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Restarter.Start(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := c.XLen(ctx, "faults").Result(); err != nil || n != 1 {
		t.Errorf("after a graceful restart with the AOF: %d entries, %v; want 1", n, err)
	}
	if err := tgt.Restarter.Stop(ctx, 1, false); err == nil {
		t.Error("stopping node 1 of a single server succeeded")
	}
	pid := redis.ServerPID(tgt)
	if err := tgt.Driver.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := tgt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("redis-server (pid %d) still there after Close: %v", pid, err)
	}
}

// TestMissingServer: without redis-server the error says what to install
// and what to use instead.
func TestMissingServer(t *testing.T) {
	t.Setenv(redis.ServerEnv, "")
	t.Setenv("PATH", t.TempDir())
	defer redis.NoDebianServer()()
	_, err := redis.Open(context.Background(), nil, broker.Spec{}, broker.Env{RunID: "missing", Dir: t.TempDir()})
	if err == nil {
		t.Fatal("opened without a server")
	}
	for _, want := range []string{"redis-server is not installed", "apt-get install redis-server", redis.ServerEnv, "target: embedded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: does not say %q", err, want)
		}
	}
}
