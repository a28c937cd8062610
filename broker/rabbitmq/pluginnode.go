package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// NodeOptions is what a private node started for another protocol adds to
// the plain one: plugins, and listeners each on a free 127.0.0.1 port.
type NodeOptions struct {
	// Plugins enabled at boot (rabbitmq_mqtt, say).
	Plugins []string
	// Listeners are rabbitmq.conf keys given "127.0.0.1:<free port>"
	// (mqtt.listeners.tcp.default, say).
	Listeners []string
	// Config lines added to rabbitmq.conf.
	Config []string
	// Keep the node's data when it is closed.
	Keep bool
}

// Node is a private RabbitMQ node with plugins, for kinds other than
// rabbitmq that speak to it (MQTT). Its Stop, Start, Pause and Resume are
// a broker.Restarter and broker.Pauser on one node; Start returns once
// the AMQP port and every listener take connections.
type Node struct {
	*node
}

var (
	_ broker.Restarter = (*Node)(nil)
	_ broker.Pauser    = (*Node)(nil)
)

// StartNode boots a private node from the installed server with o's
// plugins and listeners, under dir (the run directory), and waits until
// every listener takes connections. On error nothing it started is left
// running.
func StartNode(ctx context.Context, dir, runID string, log *slog.Logger, o NodeOptions) (*Node, error) {
	n, err := startNodeWith(ctx, dir, runID, o.Keep, log, o)
	if err != nil {
		return nil, fmt.Errorf("starting a private rabbitmq node: %w", err)
	}
	node := &Node{n}
	if err := node.waitListeners(ctx); err != nil {
		return nil, fmt.Errorf("starting a private rabbitmq node: %w", errors.Join(err, n.close(context.WithoutCancel(ctx))))
	}
	return node, nil
}

// Port is the port of listener l (one of NodeOptions.Listeners); 0 if the
// node has no such listener.
func (n *Node) Port(l string) int {
	for i, x := range n.extra.Listeners {
		if x == l {
			return n.listenerPorts[i]
		}
	}
	return 0
}

// AMQPURL is the node's AMQP URL, with the default user's credentials.
func (n *Node) AMQPURL() string { return n.url() }

// Start boots the node again on the same ports and data, and waits for
// its listeners.
func (n *Node) Start(ctx context.Context, node int) error {
	if err := n.node.Start(ctx, node); err != nil {
		return err
	}
	return n.waitListeners(ctx)
}

// Close stops the node and its epmd, and removes its data unless kept.
func (n *Node) Close(ctx context.Context) error { return n.close(ctx) }

// Describe says what the node is, its listeners and where its data is.
func (n *Node) Describe() string {
	var ls []string
	for i, l := range n.extra.Listeners {
		ls = append(ls, l+" on 127.0.0.1:"+strconv.Itoa(n.listenerPorts[i]))
	}
	d := n.describe()
	if len(n.extra.Plugins) > 0 {
		d += ", plugins " + strings.Join(n.extra.Plugins, ", ")
	}
	if len(ls) > 0 {
		d += ", " + strings.Join(ls, ", ")
	}
	return d
}

// PIDs lists every process the node started so far (tests check that none
// is left).
func (n *Node) PIDs() []int { return n.pids() }

// waitListeners waits until every listener takes TCP connections: plugins
// start their listeners after the AMQP one.
func (n *Node) waitListeners(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for i, l := range n.extra.Listeners {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.listenerPorts[i]))
		for {
			c, err := net.DialTimeout("tcp", addr, probeDialWait)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %s: %s did not listen on %s: %w; %s", n.name, l, addr, ctx.Err(), n.tail())
			case <-time.After(readyPoll):
			}
		}
	}
	return nil
}
