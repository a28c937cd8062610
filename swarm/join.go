package swarm

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// allConsumers is every consumer running now: the scenario's and those
// that joined since.
func (s *Swarm) allConsumers() []*consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(s.consumers[:len(s.consumers):len(s.consumers)], s.extras...)
}

// Subscriptions is the number of subscriptions.
func (s *Swarm) Subscriptions() int { return s.cfg.Subscriptions }

// Join starts one more consumer in subscription sub, which feeds the
// checker as the scenario's consumers do, as a new instance of an
// application scaling out would. leave stops it as an instance that shuts
// down cleanly (the driver's Close: it hands over and, on Kafka, commits
// what it handled before leaving the group) and returns once it has.
func (s *Swarm) Join(ctx context.Context, sub int) (leave func() error, err error) {
	if sub < 0 || sub >= s.cfg.Subscriptions {
		return nil, fmt.Errorf("joining subscription %d: the run has %d", sub, s.cfg.Subscriptions)
	}
	s.mu.Lock()
	cctx := s.cctx
	id := s.nextExtra
	s.nextExtra++
	s.mu.Unlock()
	if cctx == nil || cctx.Err() != nil {
		return nil, errors.New("joining: the consumers are not running")
	}
	c, err := newConsumer(ctx, id, sub, &s.cfg, s.drv, s.col, s.names, s.notify, &s.proc)
	if err != nil {
		return nil, err
	}
	s.col.watchConsumer(c)
	rctx, stop := context.WithCancel(cctx)
	s.mu.Lock()
	if cctx.Err() != nil {
		s.mu.Unlock()
		stop()
		_ = c.drv.Close()
		return nil, errors.New("joining: the consumers stopped")
	}
	s.extras = append(s.extras, c)
	s.mu.Unlock()
	go c.run(rctx)
	return func() error {
		stop()
		<-c.done
		s.mu.Lock()
		i := slices.Index(s.extras, c)
		if i >= 0 {
			s.extras = slices.Delete(s.extras, i, i+1)
		}
		s.mu.Unlock()
		if i < 0 {
			return nil // StopConsumers closed it
		}
		err := c.drv.Close()
		c.flush()
		if err != nil {
			return fmt.Errorf("consumer %d leaving: %w", id, err)
		}
		return c.err
	}, nil
}
