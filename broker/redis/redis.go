// Package redis drives Redis Streams through go-redis: consumer groups, XAUTOCLAIM recovery
// and persistence settings, on a private redis-server, miniredis in process, or a URL.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
)

// unreachableAfter bounds how long Open waits for a url target to answer.
const unreachableAfter = 5 * time.Second

// Open obtains a Redis target for cfg and spec, and a driver for it. A nil
// cfg is an empty configuration (every default).
//
//   - exec (the default): a private redis-server from the machine's
//     package on a free 127.0.0.1 port, with its own directory and the
//     section's persistence settings; its Restarter kills it (or shuts it
//     down) and starts it again on the same port and directory, and
//     pauses it with SIGSTOP. The default because what Redis keeps across
//     a restart is what users need to see.
//   - embedded: miniredis in the mqcheck process, for quick runs whose
//     only fault is a consumer's crash: it cannot be restarted.
//   - container: broker.image (package container) started with the
//     section's persistence on its command line unless broker.command is
//     given; its Restarter and Pauser act on the container.
//   - url: an existing server (redis://user:password@host:port/db,
//     rediss:// for TLS); the stream is named for the run and deleted.
func Open(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	quietOnce.Do(func() { goredis.SetLogger(quiet{}) })
	return broker.OpenTarget(ctx, "redis", c, spec, env,
		broker.TargetOpener[*Config]{Target: broker.TargetExec, Open: openExec},
		broker.TargetOpener[*Config]{Target: broker.TargetEmbedded, Open: openEmbedded},
		broker.TargetOpener[*Config]{Target: broker.TargetURL, Open: openURL},
		broker.TargetOpener[*Config]{Target: broker.TargetContainer, Open: openContainer})
}

// quiet discards go-redis's own log lines (failed dials during a restart):
// the driver reports what matters as notices and outcomes.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// clientOptions are every client's: dials through the run's dialer, no
// retries (a resent XADD after a lost answer stores the entry twice), and
// small pools (a client is one producer or consumer).
func clientOptions(cfg *Config, addr string, env broker.Env, tc *tls.Config) *goredis.Options {
	return &goredis.Options{
		Addr:                  addr,
		Dialer:                dialer(env, tc),
		MaxRetries:            -1,
		PoolSize:              2,
		DialTimeout:           cfg.RequestTimeout.D(),
		ReadTimeout:           cfg.RequestTimeout.D(),
		WriteTimeout:          cfg.RequestTimeout.D(),
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
	}
}

// dialer dials through the run's dialer (the chaos proxy), and over TLS
// when tc is set: go-redis does its own TLS only with its own dialer.
func dialer(env broker.Env, tc *tls.Config) func(context.Context, string, string) (net.Conn, error) {
	if tc == nil {
		return env.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := env.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, tc)
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

func openEmbedded(ctx context.Context, cfg *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("starting miniredis: %w", err)
	}
	addr := m.Addr()
	d := newDriver(cfg, spec, env, func() goredis.UniversalClient { return goredis.NewClient(clientOptions(cfg, addr, env, nil)) })
	return &broker.Target{Driver: d, Endpoints: []string{addr},
		Description: "embedded miniredis " + MiniredisVersion + " on " + addr + " (in memory; no restarts)",
		Close: func(context.Context) error {
			m.Close()
			return nil
		}}, nil
}

// MiniredisVersion is the embedded server's module version.
const MiniredisVersion = "v2.40.0"

func openExec(ctx context.Context, cfg *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	g, err := startGroup(ctx, cfg, env)
	if err != nil {
		return nil, fmt.Errorf("opening redis target: %w", err)
	}
	// Clients dial whichever node is the primary now (after a failover,
	// the promoted replica), through the run's dialer.
	newCli := func() goredis.UniversalClient {
		o := clientOptions(cfg, g.primaryAddr(), env, nil)
		o.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return env.DialContext(ctx, network, g.primaryAddr())
		}
		return goredis.NewClient(o)
	}
	d := newDriver(cfg, spec, env, newCli)
	return &broker.Target{Driver: d, Restarter: g, Endpoints: g.endpoints(), Description: g.describe(),
		Close: func(ctx context.Context) error { return g.close(ctx, spec.Keep) }}, nil
}

func openURL(ctx context.Context, cfg *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if spec.URL == "" {
		return nil, fmt.Errorf("opening redis target: %w: broker.url is required with target url", broker.ErrConfig)
	}
	opts, err := goredis.ParseURL(spec.URL)
	if err != nil {
		// The parser's message may quote the URL, password and all.
		return nil, fmt.Errorf("opening redis target: %w: broker.url is not a redis:// or rediss:// URL", broker.ErrConfig)
	}
	if cfg.TLS != nil {
		tc, err := broker.TLSConfig("broker.redis.tls", broker.TLSFiles{CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile,
			KeyFile: cfg.TLS.KeyFile, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify})
		if err != nil {
			return nil, fmt.Errorf("opening redis target: %w: %w", broker.ErrConfig, err)
		}
		host, _, _ := net.SplitHostPort(opts.Addr)
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		opts.TLSConfig = tc
	}
	base := clientOptions(cfg, opts.Addr, env, opts.TLSConfig)
	base.Username, base.Password, base.DB = opts.Username, opts.Password, opts.DB
	newCli := func() goredis.UniversalClient {
		if cfg.Cluster {
			// MaxRedirects -1: go-redis takes 0 for 3, and its cluster
			// pipeline then sends an XADD again after a lost answer, so a
			// message stored twice would be reported acked once.
			return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{base.Addr}, Dialer: base.Dialer,
				Username: base.Username, Password: base.Password, MaxRetries: -1, MaxRedirects: -1, PoolSize: 2,
				DialTimeout: base.DialTimeout, ReadTimeout: base.ReadTimeout, WriteTimeout: base.WriteTimeout,
				ContextTimeoutEnabled: true, DisableIdentity: true})
		}
		o := *base
		return goredis.NewClient(&o)
	}
	d := newDriver(cfg, spec, env, newCli)
	pctx, cancel := context.WithTimeout(ctx, unreachableAfter)
	defer cancel()
	if err := d.admin.Ping(pctx).Err(); err != nil {
		_ = d.admin.Close()
		var rerr goredis.Error
		if errors.As(err, &rerr) {
			// The server answered: a refusal (a wrong password), not an
			// unreachable broker.
			return nil, fmt.Errorf("redis at %s refused mqcheck: %s", opts.Addr, redactErr(err, spec.URL))
		}
		return nil, fmt.Errorf("%w: redis at %s: %s", broker.ErrUnreachable, opts.Addr, redactErr(err, spec.URL))
	}
	return &broker.Target{Driver: d, Endpoints: []string{opts.Addr}, Description: "redis at " + redactURL(spec.URL),
		Close: func(context.Context) error { return nil }}, nil
}

// redactURL shows a URL without its password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable url)"
	}
	return u.Redacted()
}

// redactErr is err's text with the URL's password, if any, masked.
func redactErr(err error, raw string) string {
	s := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}
