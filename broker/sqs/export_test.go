package sqs

import (
	"context"

	"github.com/mqcheck/mqcheck/broker"
)

// EndpointURL is the base endpoint a target's clients use.
func EndpointURL(t *broker.Target) string { return t.Driver.(*driver).ep.url }

// ServerPID is the pid of an exec target's fauxqs (0 for other targets).
func ServerPID(t *broker.Target) int {
	n, ok := t.Restarter.(*fauxqsNode)
	if !ok {
		return 0
	}
	p := n.slot.Get()
	if p == nil {
		return 0
	}
	return p.Pid()
}

// ErrBacklogUnproven is returned by Backlog while a url target's queue
// counts cannot be trusted yet.
var ErrBacklogUnproven = errBacklogUnproven

// ContainerReady is the container target's readiness check against addr.
func ContainerReady(ctx context.Context, c *Config, addr string) error {
	return containerKind(c).Ready(ctx, []string{addr})
}

// ContainerPorts are the container target's default ports.
var ContainerPorts = containerPorts
