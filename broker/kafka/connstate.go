package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
)

// connState turns a client's connection errors into "disconnected" and
// "reconnected" notices, one per transition of each broker address: franz-go
// retries by itself, so a lost connection never reaches a produce promise
// unless retries run out. It watches one request key (Produce for
// producers, Fetch for consumers) plus dials, through kgo hooks that run per
// request, not per record.
type connState struct {
	who    string // "producer 3"
	key    int16
	notify func(broker.Notice)

	closing atomic.Bool  // Close is under way: its errors are not outages
	nDown   atomic.Int32 // fast path: nothing to do while all is well

	mu   sync.Mutex
	down map[hostPort]bool
}

type hostPort struct {
	host string
	port int32
}

func newConnState(who string, key int16, notify func(broker.Notice)) *connState {
	return &connState{who: who, key: key, notify: notify, down: make(map[hostPort]bool)}
}

var (
	_ kgo.HookBrokerConnect = (*connState)(nil)
	_ kgo.HookBrokerWrite   = (*connState)(nil)
	_ kgo.HookBrokerRead    = (*connState)(nil)
)

func (c *connState) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		c.lost(meta, err)
		return
	}
	c.back(meta)
}

func (c *connState) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == c.key && err != nil {
		c.lost(meta, err)
	}
}

func (c *connState) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != c.key {
		return
	}
	if err != nil {
		c.lost(meta, err)
		return
	}
	c.back(meta)
}

func (c *connState) lost(meta kgo.BrokerMetadata, err error) {
	// franz-go cancels its own requests (a fetch on revoke, everything on
	// Close): the connection was fine.
	if c.closing.Load() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	hp := hostPort{meta.Host, meta.Port}
	c.mu.Lock()
	if c.down[hp] {
		c.mu.Unlock()
		return
	}
	c.down[hp] = true
	c.nDown.Add(1)
	c.mu.Unlock()
	c.send("disconnected", fmt.Sprintf("%s lost %s: %v", c.who, addr(hp), err))
}

func (c *connState) back(meta kgo.BrokerMetadata) {
	if c.nDown.Load() == 0 {
		return
	}
	hp := hostPort{meta.Host, meta.Port}
	c.mu.Lock()
	if !c.down[hp] {
		c.mu.Unlock()
		return
	}
	delete(c.down, hp)
	c.nDown.Add(-1)
	c.mu.Unlock()
	c.send("reconnected", fmt.Sprintf("%s reached %s again", c.who, addr(hp)))
}

func (c *connState) send(kind, detail string) {
	if c.notify != nil {
		c.notify(broker.Notice{Kind: kind, Detail: detail, At: time.Now()})
	}
}

func addr(hp hostPort) string {
	return net.JoinHostPort(hp.host, strconv.Itoa(int(hp.port)))
}
