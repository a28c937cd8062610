package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
)

// replicaSyncWait bounds how long a replica may take to finish its first
// sync with the primary at start-up.
const replicaSyncWait = 30 * time.Second

// group is the exec target's servers: node 0 starts as the primary, the
// others as its replicas. With failover, stopping the primary promotes the
// first running replica (REPLICAOF NO ONE) and clients follow it; the old
// primary comes back as a replica of the new one.
type group struct {
	nodes    []*server
	failover bool

	mu      sync.Mutex
	primary int
}

var (
	_ broker.Restarter = (*group)(nil)
	_ broker.Pauser    = (*group)(nil)
)

func startGroup(ctx context.Context, cfg *Config, env broker.Env) (*group, error) {
	g := &group{failover: cfg.Failover}
	first, err := startServer(ctx, cfg, env, "")
	if err != nil {
		return nil, err
	}
	g.nodes = append(g.nodes, first)
	for range cfg.Replicas {
		r, err := startServer(ctx, cfg, env, first.addr())
		if err != nil {
			return nil, errors.Join(err, g.close(context.WithoutCancel(ctx), false))
		}
		g.nodes = append(g.nodes, r)
	}
	for _, r := range g.nodes[1:] {
		if err := r.waitSynced(ctx); err != nil {
			return nil, errors.Join(err, g.close(context.WithoutCancel(ctx), false))
		}
	}
	return g, nil
}

// primaryAddr is where clients send their commands now.
func (g *group) primaryAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nodes[g.primary].addr()
}

func (g *group) endpoints() []string {
	out := make([]string, len(g.nodes))
	for i, n := range g.nodes {
		out[i] = n.addr()
	}
	return out
}

func (g *group) Nodes() int { return len(g.nodes) }

// which lists the nodes a fault names: all when node < 0.
func (g *group) which(what string, node int) ([]int, error) {
	if node >= len(g.nodes) {
		return nil, fmt.Errorf("%s redis node %d: the target has %d (0 to %d)", what, node, len(g.nodes), len(g.nodes)-1)
	}
	if node >= 0 {
		return []int{node}, nil
	}
	all := make([]int, len(g.nodes))
	for i := range all {
		all[i] = i
	}
	return all, nil
}

// Stop takes nodes down (kill -9, or a shutdown when graceful). With
// failover, a stopped primary hands over to the first running replica.
func (g *group) Stop(ctx context.Context, node int, graceful bool) error {
	ids, err := g.which("stopping", node)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, i := range ids {
		errs = append(errs, g.nodes[i].stop(ctx, graceful))
	}
	if g.failover && !g.nodes[g.primary].running() {
		errs = append(errs, g.promoteLocked(ctx))
	}
	return errors.Join(errs...)
}

// promoteLocked makes the first running replica the primary and the other
// running replicas follow it; with none running, the primary stays.
func (g *group) promoteLocked(ctx context.Context) error {
	next := -1
	for i, n := range g.nodes {
		if i != g.primary && n.running() {
			next = i
			break
		}
	}
	if next < 0 {
		return nil
	}
	if err := g.nodes[next].replicaOfCmd(ctx, ""); err != nil {
		return fmt.Errorf("promoting redis node %d: %w", next, err)
	}
	g.primary = next
	var errs []error
	for i, n := range g.nodes {
		if i != next && n.running() {
			errs = append(errs, n.replicaOfCmd(ctx, g.nodes[next].addr()))
		}
	}
	if env := g.nodes[next].env; env.Notify != nil {
		env.Notify(broker.Notice{Kind: "failover", At: time.Now(),
			Detail: fmt.Sprintf("redis node %d (%s) promoted to primary with REPLICAOF NO ONE", next, g.nodes[next].addr())})
	}
	return errors.Join(errs...)
}

// Start brings nodes back on their ports and data: the primary as the
// primary, the others as its replicas.
func (g *group) Start(ctx context.Context, node int) error {
	ids, err := g.which("starting", node)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// The primary first, so that replicas find it.
	if node < 0 {
		ids = append([]int{g.primary}, ids...)
	}
	for _, i := range ids {
		of := ""
		if i != g.primary {
			of = g.nodes[g.primary].addr()
		}
		if err := g.nodes[i].startAgain(ctx, of); err != nil {
			return err
		}
	}
	return nil
}

// Pause freezes nodes (SIGSTOP): connections stay open, nothing answers.
func (g *group) Pause(_ context.Context, node int) error {
	return g.signal(node, syscall.SIGSTOP, "pausing")
}

// Resume lets paused nodes go on (SIGCONT).
func (g *group) Resume(_ context.Context, node int) error {
	return g.signal(node, syscall.SIGCONT, "resuming")
}

func (g *group) signal(node int, sig syscall.Signal, what string) error {
	ids, err := g.which(what, node)
	if err != nil {
		return err
	}
	var errs []error
	for _, i := range ids {
		errs = append(errs, g.nodes[i].signal(sig, what))
	}
	return errors.Join(errs...)
}

func (g *group) close(ctx context.Context, keep bool) error {
	var errs []error
	for _, n := range g.nodes {
		errs = append(errs, n.close(ctx, keep))
	}
	return errors.Join(errs...)
}

func (g *group) describe() string {
	parts := make([]string, len(g.nodes))
	for i, n := range g.nodes {
		parts[i] = n.describe()
	}
	s := strings.Join(parts, "; ")
	if g.failover {
		s += "; failover to a replica when the primary stops"
	}
	return s
}

// replicaOfCmd sends REPLICAOF to the server: of "" makes it a primary.
func (s *server) replicaOfCmd(ctx context.Context, of string) error {
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1, DisableIdentity: true, PoolSize: 1})
	defer c.Close()
	args := []any{"REPLICAOF", "NO", "ONE"}
	if of != "" {
		host, port, _ := strings.Cut(of, ":")
		args = []any{"REPLICAOF", host, port}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Do(cctx, args...).Err(); err != nil {
		return fmt.Errorf("REPLICAOF on %s: %w", s.addr(), err)
	}
	s.mu.Lock()
	s.replicaOf = of
	s.mu.Unlock()
	return nil
}

// waitSynced waits until a replica's link to its primary is up (its first
// sync done), so that WAIT counts it from the first message.
func (s *server) waitSynced(ctx context.Context) error {
	c := goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1, DisableIdentity: true, PoolSize: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, replicaSyncWait)
	defer cancel()
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s did not sync with its primary within %s: %s", s.addr(), replicaSyncWait, s.tail())
		case <-time.After(readyPoll):
		}
	}
}
