// Package nats drives NATS through nats.go: JetStream streams and durable consumers, or
// core subjects; an embedded nats-server (one node or three), a private server, or a URL.
package nats

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mqcheck/mqcheck/broker"
)

// Open obtains a NATS target for cfg and spec, and a driver for it. A nil
// cfg is an empty configuration (every default).
//
//   - embedded (the default): nats-server in the mqcheck process with
//     JetStream, its store under the run directory, on free 127.0.0.1
//     ports; broker.nats.cluster: 3 runs three nodes as a JetStream
//     cluster. Its Restarter shuts nodes down and starts them again on the
//     same ports and stores.
//   - exec: a private nats-server from the installed package (Debian's
//     /usr/sbin/nats-server), its own port and store; its Restarter kills
//     it (SIGKILL) or stops it (SIGTERM) and pauses it (SIGSTOP).
//   - url: the server(s) at broker.url (nats://, tls://, comma-separated),
//     with the section's credentials.
func Open(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	return broker.OpenTarget(ctx, "nats", c, spec, env,
		broker.TargetOpener[*Config]{Target: broker.TargetEmbedded, Open: openEmbedded},
		broker.TargetOpener[*Config]{Target: broker.TargetExec, Open: openExec},
		broker.TargetOpener[*Config]{Target: broker.TargetURL, Open: openURL},
		broker.TargetOpener[*Config]{Target: broker.TargetContainer, Open: openContainer})
}

// unreachableAfter bounds how long Open waits for a url target.
const unreachableAfter = 5 * time.Second

func openURL(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if spec.URL == "" {
		return nil, fmt.Errorf("opening nats target: %w: broker.url is required with target url", broker.ErrConfig)
	}
	var hosts []string
	for _, s := range strings.Split(spec.URL, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			return nil, fmt.Errorf("opening nats target: %w: broker.url must be nats://host:port or tls://host:port (comma-separated for several)", broker.ErrConfig)
		}
		h := u.Host
		if u.Port() == "" {
			h += ":4222"
		}
		hosts = append(hosts, h)
	}
	auth, err := c.authOptions()
	if err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, unreachableAfter)
	defer cancel()
	d, err := newDriver(cctx, c, spec, env, spec.URL, auth)
	if err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	return &broker.Target{Driver: d, Endpoints: hosts, Description: "nats at " + redactServers(spec.URL),
		Close: func(context.Context) error { return nil }}, nil
}

// authOptions are the section's credentials as nats.go options.
func (c *Config) authOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: broker.nats.nkey_file: %w", broker.ErrConfig, err)
		}
		opts = append(opts, o)
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	return opts, nil
}

// redactServers hides the password or token in a server list.
func redactServers(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("xxxxx")
			parts[i] = u.String()
		} else if err != nil {
			parts[i] = "<unparsable url>"
		}
	}
	return strings.Join(parts, ",")
}
