// Package testenv decides what a test does when the machine lacks something it
// needs (a broker server): fail, unless the user opted out of that broker by name.
package testenv

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// SkipEnv names the brokers a machine lacks on purpose, comma-separated
// (MQCHECK_SKIP_BROKERS=rabbitmq on a laptop without RabbitMQ): their tests
// skip instead of failing.
const SkipEnv = "MQCHECK_SKIP_BROKERS"

// Skipped reports whether SkipEnv names broker.
func Skipped(broker string) bool {
	return slices.ContainsFunc(strings.Split(os.Getenv(SkipEnv), ","), func(s string) bool {
		return strings.EqualFold(strings.TrimSpace(s), broker)
	})
}

// Require fails tb when missing is not nil: the test needs broker and the
// machine does not have it. When SkipEnv names broker it skips instead.
// Either way the message says how to choose.
func Require(tb testing.TB, broker string, missing error) {
	tb.Helper()
	if missing == nil {
		return
	}
	if Skipped(broker) {
		tb.Skipf("skipping: %v (%s=%s)", missing, SkipEnv, os.Getenv(SkipEnv))
	}
	tb.Fatalf("%v; install it, or set %s=%s to skip the tests that need it", missing, SkipEnv, broker)
}

// RequireEnv, set to 1 (as CI does), makes every test that needs
// something the machine may lack fail instead of skipping.
const RequireEnv = "MQCHECK_REQUIRE_BROKERS"

// Optional skips tb when missing is not nil, unless RequireEnv is 1: for
// what most machines lack and CI provides (a container engine).
func Optional(tb testing.TB, what string, missing error) {
	tb.Helper()
	if missing == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%s: %v (%s=1: CI must provide it)", what, missing, RequireEnv)
	}
	tb.Skipf("skipping: %s: %v (set %s=1 to fail instead)", what, missing, RequireEnv)
}
