package nats

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
)

// containerPorts: the client port of nats images.
var containerPorts = []string{"4222/tcp"}

// containerCommand: the arguments of the image's nats-server entrypoint
// (the official images' layout) when broker.command gives none:
// JetStream on, its store in the container.
var containerCommand = []string{"-js", "-sd", "/data/jetstream"}

// containerKind: ready once the server greets a client with INFO.
var containerKind = container.Kind{
	Name:  "nats",
	Ports: containerPorts,
	Ready: func(ctx context.Context, addrs []string) error {
		c, err := container.Dial(ctx, addrs[0])
		if err != nil {
			return err
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return fmt.Errorf("no INFO: %w", err)
		}
		if !strings.HasPrefix(line, "INFO ") {
			return fmt.Errorf("greeted with %.40q, not INFO", line)
		}
		return nil
	},
	ReadyTimeout: time.Minute,
}

// openContainer starts broker.image (JetStream on unless broker.command
// says otherwise) and points the driver at its client port.
func openContainer(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	cs := spec.Container
	if len(cs.Command) == 0 {
		cs.Command = containerCommand
	}
	ctr, err := container.Start(ctx, containerKind, cs, spec.Keep, env)
	if err != nil {
		return nil, fmt.Errorf("opening nats target: %w", err)
	}
	addr := ctr.Addrs[0]
	d, err := newDriver(ctx, c, spec, env, "nats://"+addr, nil)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("opening nats target: %w", err), ctr.Close(context.WithoutCancel(ctx)))
	}
	return &broker.Target{Driver: d, Restarter: ctr, Endpoints: []string{addr}, Description: "nats in " + ctr.Description(),
		Close: ctr.Close, Container: &ctr.Info}, nil
}
