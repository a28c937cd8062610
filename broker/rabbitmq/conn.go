package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
)

const (
	dialTimeout = 5 * time.Second
	// handshakeTimeout bounds TLS and AMQP handshakes (amqp091 clears the
	// deadline once the connection is open): a node that accepts TCP while
	// it boots must not hold a client for amqp091's 30s.
	handshakeTimeout = 10 * time.Second
	// rpcTimeout bounds one synchronous AMQP call (declare, qos, consume):
	// amqp091 waits for the answer for ever, and a queue without a leader
	// may never give one.
	rpcTimeout = 30 * time.Second
	// closeWait bounds a graceful connection close; stopCloseWait one made
	// while the run is stopping (after the drain), when no one waits for
	// the broker's answer.
	closeWait     = 5 * time.Second
	stopCloseWait = time.Second
	// A client that has failed to (re)connect for reconnectWarnAfter makes
	// a warning notice, once per outage: a restarted node is back sooner
	// on most machines, and a broker that takes connections and never
	// answers costs rpcTimeout per attempt.
	reconnectWarnAfter = 10 * time.Second
)

// conn is one AMQP connection with the TCP connection under it, so that a
// stuck call can be cut short (and tests can simulate a client crash).
type conn struct {
	*amqp.Connection
	raw net.Conn
}

// connect opens a connection named name (shown in the broker's management
// UI), within ctx: the dial and the handshake end when it does. Errors never
// contain the URL.
func (st *settings) connect(ctx context.Context, name string) (*conn, error) {
	c := &conn{}
	// amqp091 takes no context: the handshake is cut short by closing the
	// socket under it.
	var stopWatch func() bool
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	cfg := amqp.Config{
		Heartbeat:  st.r.Heartbeat.D(),
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			// Through the run's dial function: network faults put a proxy
			// in the path.
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			raw, err := st.env.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := raw.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
				raw.Close()
				return nil, err
			}
			c.raw = raw
			stopWatch = context.AfterFunc(ctx, func() { raw.Close() })
			return raw, nil
		},
	}
	if st.tls != nil {
		// amqp091 writes ServerName into the config it is given.
		cfg.TLSClientConfig = st.tls.Clone()
	}
	ac, err := amqp.DialConfig(st.url, cfg)
	if stopWatch != nil && !stopWatch() {
		// ctx ended during the handshake: the socket is closed.
		if err == nil {
			_ = ac.Close()
		}
		return nil, fmt.Errorf("connecting to %s: %w", st.shown, ctx.Err())
	}
	if err != nil {
		// amqp091 parsed the URL before dialing: its errors name the
		// address, never the credentials.
		return nil, fmt.Errorf("connecting to %s: %w", st.shown, err)
	}
	c.Connection = ac
	return c, nil
}

// shut closes the connection gracefully if the broker answers in time, and
// drops it otherwise. Unacknowledged deliveries go back to their queues
// either way.
func (c *conn) shut() { c.shutWithin(closeWait) }

// shutWithin is shut with its own bound on the broker's answer.
func (c *conn) shutWithin(d time.Duration) {
	if c == nil || c.Connection == nil {
		return
	}
	if err := c.CloseDeadline(time.Now().Add(d)); err != nil && c.raw != nil {
		c.raw.Close()
	}
}

// crash drops the TCP connection without a word, as a killed client would.
func (c *conn) crash() {
	if c != nil && c.raw != nil {
		c.raw.Close()
	}
}

// guard runs fn, a synchronous AMQP call on c, and drops the connection if
// it has not returned within rpcTimeout or when ctx ends, which makes fn
// return.
func (c *conn) guard(ctx context.Context, fn func() error) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var expired bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTimer(rpcTimeout)
		defer t.Stop()
		select {
		case <-stop:
		case <-ctx.Done():
			c.crash()
		case <-t.C:
			expired = true
			c.crash()
		}
	}()
	err := fn()
	close(stop)
	wg.Wait()
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	case err != nil && expired:
		return fmt.Errorf("the broker did not answer within %s; connection dropped (%w)", rpcTimeout, err)
	}
	return err
}

// permanent reports errors no reconnect can fix: refused credentials or
// vhost, a queue declared elsewhere with other arguments.
func permanent(err error) bool {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case amqp.AccessRefused, amqp.NotAllowed, amqp.PreconditionFailed, amqp.NotImplemented:
		return true
	}
	return false
}

// backoff doubles from min to max; deterministic on purpose (a jittered
// backoff would be the run's only unseeded random choice).
func (st *settings) backoff(attempt int) time.Duration {
	d, limit := st.r.ReconnectMin.D(), st.r.ReconnectMax.D()
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// link reports one client's connection state as timeline notices: one
// "disconnected" when service stops and one "reconnected", with the time
// without service, when it comes back. Only the client's own goroutine
// calls it.
type link struct {
	who    string
	notify func(broker.Notice)
	down   time.Time
	// failures counts attempts to connect that failed in a row, since
	// failingSince; warned: the outage had its warning.
	failures     int
	failingSince time.Time
	warned       bool
}

func (l *link) lost(err error) {
	if !l.down.IsZero() {
		return
	}
	l.down = time.Now()
	l.send("disconnected", fmt.Sprintf("%s lost its connection: %v", l.who, err), l.down)
}

// failed reports one failed attempt to (re)connect. The reason of one
// failure is only worth a debug line; a client that keeps failing is worth
// a warning the summary shows (a drain that times out is often why).
func (l *link) failed(err error) {
	if l.failures == 0 {
		l.failingSince = time.Now()
	}
	l.failures++
	since := l.failingSince
	if !l.down.IsZero() {
		since = l.down
	}
	now := time.Now()
	if l.warned || now.Sub(since) < reconnectWarnAfter || l.notify == nil {
		return
	}
	l.warned = true
	l.notify(broker.Notice{Kind: "reconnect-failing", Warning: true, At: now,
		Detail: fmt.Sprintf("%s has had no connection for %s (%d attempts failed), and keeps trying; last error: %v",
			l.who, now.Sub(since).Round(time.Millisecond), l.failures, err)})
}

func (l *link) back() {
	l.failures, l.warned = 0, false
	if l.down.IsZero() {
		return
	}
	now := time.Now()
	l.send("reconnected", fmt.Sprintf("%s reconnected after %s without service", l.who, now.Sub(l.down).Round(time.Millisecond)), now)
	l.down = time.Time{}
}

func (l *link) send(kind, detail string, at time.Time) {
	if l.notify != nil {
		l.notify(broker.Notice{Kind: kind, Detail: detail, At: at})
	}
}

// sleep waits d, or less if done closes first; it reports whether the full
// time passed.
func sleep(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
