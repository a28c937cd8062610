package kafka

import (
	"context"
	"errors"
	"net"
	"sync"
)

// killSwitch cuts every connection of one client at once and refuses new
// ones, as the death of its process would: the client gets no chance to
// say goodbye (no commit, no end of its transaction, no leave).
type killSwitch struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	dead  bool
}

var errKilled = errors.New("the client was killed (fault injection)")

// wrap returns d with every connection tracked, for kill.
func (k *killSwitch) wrap(d dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		k.mu.Lock()
		dead := k.dead
		k.mu.Unlock()
		if dead {
			return nil, errKilled
		}
		c, err := d(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.dead {
			c.Close()
			return nil, errKilled
		}
		if k.conns == nil {
			k.conns = make(map[net.Conn]struct{})
		}
		tc := &killableConn{Conn: c, k: k}
		k.conns[tc] = struct{}{}
		return tc, nil
	}
}

// kill closes every connection and refuses new ones for good.
func (k *killSwitch) kill() {
	k.mu.Lock()
	k.dead = true
	cs := make([]net.Conn, 0, len(k.conns))
	for c := range k.conns {
		cs = append(cs, c)
	}
	k.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

type killableConn struct {
	net.Conn
	k    *killSwitch
	once sync.Once
}

func (c *killableConn) Close() error {
	c.once.Do(func() {
		c.k.mu.Lock()
		delete(c.k.conns, c)
		c.k.mu.Unlock()
	})
	return c.Conn.Close()
}
