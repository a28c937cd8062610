package runner

import (
	"context"
	"errors"
	"sync"

	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/processing"
	"github.com/mqcheck/mqcheck/swarm"
)

// swarmClients hands client faults to the swarm, which exists only after
// the faults were planned (planning comes before Setup, so that a scenario
// error is found before anything is created on the broker).
type swarmClients struct {
	producers, consumers int
	mu                   sync.Mutex
	sw                   *swarm.Swarm
}

var _ chaos.Clients = (*swarmClients)(nil)

var errNoSwarm = errors.New("the run's clients are not running")

func (c *swarmClients) attach(sw *swarm.Swarm) {
	c.mu.Lock()
	c.sw = sw
	c.mu.Unlock()
}

func (c *swarmClients) get() *swarm.Swarm {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sw
}

func (c *swarmClients) Producers() int { return c.producers }
func (c *swarmClients) Consumers() int { return c.consumers }

func (c *swarmClients) CrashProducer(ctx context.Context, i int) error {
	sw := c.get()
	if sw == nil {
		return errNoSwarm
	}
	return sw.CrashProducer(ctx, i)
}

func (c *swarmClients) CrashConsumer(ctx context.Context, i int) error {
	sw := c.get()
	if sw == nil {
		return errNoSwarm
	}
	return sw.CrashConsumer(ctx, i)
}

var _ chaos.PointCrasher = (*swarmClients)(nil)

func (c *swarmClients) CrashConsumerAt(ctx context.Context, i int, point string) error {
	sw := c.get()
	if sw == nil {
		return errNoSwarm
	}
	p, err := processing.ParsePoint(point)
	if err != nil {
		return err
	}
	return sw.CrashConsumerAt(ctx, i, p)
}

var _ chaos.Joiner = (*swarmClients)(nil)

func (c *swarmClients) Subscriptions() int {
	if sw := c.get(); sw != nil {
		return sw.Subscriptions()
	}
	return 0
}

func (c *swarmClients) Join(ctx context.Context, sub int) (func() error, error) {
	sw := c.get()
	if sw == nil {
		return nil, errNoSwarm
	}
	return sw.Join(ctx, sub)
}
