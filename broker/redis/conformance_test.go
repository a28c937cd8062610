package redis_test

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/brokertest"
)

// TestConformanceExec runs the conformance suite on private redis-servers.
func TestConformanceExec(t *testing.T) {
	t.Parallel()
	requireServer(t)
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target = broker.TargetExec
		c := fast()
		// Restarts keep what was acknowledged.
		c.Appendonly, c.Appendfsync = true, "always"
		return redis.Open(ctx, c, spec, env)
	}
	brokertest.Run(t, brokertest.Harness{
		Open:            open,
		OpenRestartable: open,
		OpenWithSecret:  openWithSecret,
	})
}

// TestConformanceMiniredis runs the conformance suite on embedded
// miniredis.
func TestConformanceMiniredis(t *testing.T) {
	t.Parallel()
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target = broker.TargetEmbedded
		return redis.Open(ctx, fast(), spec, env)
	}
	brokertest.Run(t, brokertest.Harness{
		Open:           open,
		OpenWithSecret: openWithSecret,
		Caps: brokertest.Caps{Unsupported: map[string]string{
			brokertest.CapRestart: "miniredis lives in the mqcheck process and is never restarted (target exec is)",
		}},
	})
}

// openWithSecret opens a url target whose password is secret, on a port
// nothing listens on.
func openWithSecret(ctx context.Context, secret string, env broker.Env) (*broker.Target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	u := "redis://mqcheck:" + secret + "@127.0.0.1:" + strconv.Itoa(port) + "/0"
	return redis.Open(ctx, nil, broker.Spec{Target: broker.TargetURL, URL: u}, env)
}
