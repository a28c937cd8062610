package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
)

// containerPorts: where Redis images listen.
var containerPorts = []string{"6379/tcp"}

// containerKind: ready once the server answers PING (it answers LOADING
// while it reads its AOF back).
var containerKind = container.Kind{
	Name:  "redis",
	Ports: containerPorts,
	Ready: func(ctx context.Context, addrs []string) error {
		c := goredis.NewClient(&goredis.Options{Addr: addrs[0], MaxRetries: -1, DisableIdentity: true})
		defer c.Close()
		return c.Ping(ctx).Err()
	},
}

// containerCommand is the server's command line in the container: the
// section's persistence, as a private server gets it, so that a setting
// means the same on every target. The official images run it through
// their entrypoint.
func containerCommand(cfg *Config) []string {
	args := serverArgs(cfg, 6379, "/data")
	out := []string{"redis-server", "--protected-mode", "no"}
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--appendonly", "--appendfsync", "--save", "--client-output-buffer-limit":
			out = append(out, args[i], args[i+1])
		}
	}
	return out
}

// openContainer starts broker.image with the section's persistence
// (unless broker.command says otherwise) and points clients at it through
// the run's dialer.
func openContainer(ctx context.Context, cfg *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	cs := spec.Container
	if len(cs.Command) == 0 {
		cs.Command = containerCommand(cfg)
	}
	c, err := container.Start(ctx, containerKind, cs, spec.Keep, env)
	if err != nil {
		return nil, fmt.Errorf("opening redis target: %w", err)
	}
	addr := c.Addrs[0]
	newCli := func() goredis.UniversalClient { return goredis.NewClient(clientOptions(cfg, addr, env, nil)) }
	return &broker.Target{Driver: newDriver(cfg, spec, env, newCli), Restarter: c, Endpoints: []string{addr}, Description: "redis in " + c.Description(),
		Close: c.Close, Container: &c.Info}, nil
}
