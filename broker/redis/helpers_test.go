package redis_test

import (
	"context"
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
