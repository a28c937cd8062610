package sqs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
)

// containerPorts: the SQS port of softwaremill/elasticmq-native (and of
// mqcheck's fauxqs test image); LocalStack's 4566 is given with
// broker.ports.
var containerPorts = []string{"9324/tcp"}

// containerReadyTimeout: a JVM emulator or LocalStack takes tens of
// seconds to answer on 2 cores.
const containerReadyTimeout = 2 * time.Minute

// containerKind: ready once the emulator answers ListQueues; its TCP port
// alone says nothing (the engine's port forwarder accepts before the
// server inside listens).
func containerKind(c *Config) container.Kind {
	return container.Kind{
		Name:         "sqs",
		Ports:        containerPorts,
		Ready:        func(ctx context.Context, addrs []string) error { return listQueues(ctx, c, "http://"+addrs[0]) },
		ReadyTimeout: containerReadyTimeout,
	}
}

// listQueues asks the endpoint at url for one queue, once, without the
// run's dialer (no network fault is in place yet) and without retries
// (the readiness loop is the retry).
func listQueues(ctx context.Context, c *Config, url string) error {
	one := *c
	one.MaxAttempts = 1
	var d net.Dialer
	cfg, err := awsConfig(ctx, &one, endpoint{url: url, emulator: true}, d.DialContext, 0)
	if err != nil {
		return err
	}
	cl := awssqs.NewFromConfig(cfg, func(o *awssqs.Options) { o.BaseEndpoint = aws.String(url) })
	if _, err := cl.ListQueues(ctx, &awssqs.ListQueuesInput{MaxResults: aws.Int32(1)}); err != nil {
		return fmt.Errorf("ListQueues: %w", err)
	}
	return nil
}

// containerNode is the container as the target's Restarter and Pauser:
// Start also creates the run's queues again, since an in-memory emulator
// comes back from a kill without them (as the exec target's fauxqs does).
type containerNode struct {
	*container.Container
	d *driver
}

var (
	_ broker.Restarter = (*containerNode)(nil)
	_ broker.Pauser    = (*containerNode)(nil)
)

// Start starts the container again, waits until the emulator answers,
// and creates the run's queues again (an emulator that kept them gives
// the same URLs back; Setup checks that it does).
func (n *containerNode) Start(ctx context.Context, node int) error {
	if err := n.Container.Start(ctx, node); err != nil {
		return err
	}
	// A killed container resets none of its connections: the pooled ones
	// would hang Setup for request_timeout each.
	n.d.adminConns.closeAll()
	if err := n.d.Setup(ctx); err != nil {
		return fmt.Errorf("creating the run's queues again after the restart: %w", err)
	}
	return nil
}

// openContainer starts broker.image, an SQS emulator, and points the
// driver at its mapped port as an emulator mqcheck started: any
// credentials, the queues created by Setup, exact queue counts.
func openContainer(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	ctr, err := container.Start(ctx, containerKind(c), spec.Container, spec.Keep, env)
	if err != nil {
		return nil, fmt.Errorf("opening sqs target: %w", err)
	}
	addr := ctr.Addrs[0]
	d, err := newDriver(ctx, c, spec, endpoint{url: "http://" + addr, emulator: true}, env)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("opening sqs target: %w", err), ctr.Close(context.WithoutCancel(ctx)))
	}
	return &broker.Target{Driver: d, Restarter: &containerNode{Container: ctr, d: d}, Endpoints: []string{addr},
		Description: "sqs in " + ctr.Description(), Close: ctr.Close, Container: &ctr.Info}, nil
}

// connSet tracks the connections one client dialled, so that they can be
// dropped at once.
type connSet struct {
	mu sync.Mutex
	m  map[*trackedConn]struct{}
}

func (s *connSet) dial(inner func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := inner(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, set: s}
		s.mu.Lock()
		if s.m == nil {
			s.m = map[*trackedConn]struct{}{}
		}
		s.m[tc] = struct{}{}
		s.mu.Unlock()
		return tc, nil
	}
}

// closeAll closes every connection still open; a request on one fails,
// and the SDK's retry dials anew.
func (s *connSet) closeAll() {
	s.mu.Lock()
	cs := make([]*trackedConn, 0, len(s.m))
	for c := range s.m {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (c *trackedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.m, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}
