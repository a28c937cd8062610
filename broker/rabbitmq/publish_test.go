package rabbitmq_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/scenarios"
)

// completions records every OnComplete of a producer, in order.
type completions struct {
	mu       sync.Mutex
	order    []uint64
	outcomes map[uint64]broker.Outcome
	errs     map[uint64]error
	twice    int
}

func newCompletions() *completions {
	return &completions{outcomes: map[uint64]broker.Outcome{}, errs: map[uint64]error{}}
}

func (c *completions) complete(m *broker.Message, o broker.Outcome, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.outcomes[m.Seq]; ok {
		c.twice++
	}
	c.order = append(c.order, m.Seq)
	c.outcomes[m.Seq] = o
	c.errs[m.Seq] = err
}

func (c *completions) count(o broker.Outcome) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, x := range c.outcomes {
		if x == o {
			n++
		}
	}
	return n
}

func (c *completions) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.order)
}

// openShared opens s on the shared node and runs Setup; the driver and
// target are closed at cleanup.
func openShared(t *testing.T, s *scenarios.Scenario) *broker.Target {
	t.Helper()
	onShared(t, s)
	return openAt(t, s)
}

func openAt(t *testing.T, s *scenarios.Scenario) *broker.Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tgt, err := openScenario(ctx, s, broker.Env{RunID: "pub", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tgt.Driver.Close(ctx); err != nil {
			t.Errorf("closing the driver: %v", err)
		}
		tgt.Close(ctx)
	})
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return tgt
}

// publish publishes n messages from producer p (seq from first), each with
// its own payload.
func publish(t *testing.T, ctx context.Context, p broker.Producer, id, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		m := &broker.Message{Producer: id, Seq: uint64(i), Payload: []byte(fmt.Sprintf("p%d-%d", id, i)), Sent: time.Now().UnixNano()}
		if err := p.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConfirmsInOrder: thousands of publishes in flight at once; RabbitMQ
// confirms them with `multiple` acks, which must each complete every message
// they cover exactly once, in publish order.
func TestConfirmsInOrder(t *testing.T) {
	const n = 5000
	tgt := openShared(t, scenario(t, "confirm-order", func(s *scenarios.Scenario) { s.Producers.MaxInFlight = n }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := newCompletions()
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{ID: 0, OnComplete: got.complete})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publish(t, ctx, p, 0, 0, n)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got.count(broker.Acked) != n || got.twice != 0 {
		t.Fatalf("%d acked of %d, %d completed twice", got.count(broker.Acked), n, got.twice)
	}
	for i, seq := range got.order {
		if seq != uint64(i) {
			t.Fatalf("completion %d is seq %d: not in publish order", i, seq)
		}
	}
}

// TestMandatoryReturnIsFailed: with mandatory, a message no queue is bound
// for comes back (basic.return) and is failed, though the broker's confirm
// that follows is an ack; routed messages are acked.
func TestMandatoryReturnIsFailed(t *testing.T) {
	tgt := openShared(t, scenario(t, "mandatory", func(s *scenarios.Scenario) {
		r := s.Broker.Config.(*rabbitmq.Config)
		r.Pattern, r.Mandatory = "direct", true
		r.RoutingKeys, r.BindingKeys = []string{"bound", "unbound"}, []string{"bound"}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	routed, returned := newCompletions(), newCompletions()
	for id, c := range []*completions{routed, returned} {
		p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{ID: id, OnComplete: c.complete})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		publish(t, ctx, p, id, 0, 200)
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if routed.count(broker.Acked) != 200 {
		t.Errorf("routed: %d acked of 200", routed.count(broker.Acked))
	}
	if returned.count(broker.Failed) != 200 || returned.twice != 0 {
		t.Errorf("unroutable: %d failed of 200 (%d completed twice)", returned.count(broker.Failed), returned.twice)
	}
	if err := returned.errs[7]; err == nil || !strings.Contains(err.Error(), "NO_ROUTE") {
		t.Errorf("error of a returned message: %v", err)
	}
}

// TestNackIsFailed: a queue of at most 5 messages that rejects what does
// not fit nacks every publish beyond the 5th.
func TestNackIsFailed(t *testing.T) {
	tgt := openShared(t, scenario(t, "nack", func(s *scenarios.Scenario) {
		s.Broker.Config.(*rabbitmq.Config).MaxLength = 5
		s.Broker.Config.(*rabbitmq.Config).Overflow = "reject-publish"
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := newCompletions()
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{ID: 0, OnComplete: got.complete})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publish(t, ctx, p, 0, 0, 20)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got.count(broker.Acked) != 5 || got.count(broker.Failed) != 15 {
		t.Errorf("acked %d, failed %d: want 5 and 15", got.count(broker.Acked), got.count(broker.Failed))
	}
	if err := got.errs[19]; err == nil || !strings.Contains(err.Error(), "nacked") {
		t.Errorf("error of a nacked message: %v", err)
	}
}

// TestConnectionLossIsIndeterminate: the broker's confirms are held in a
// proxy, then the connection is cut. Every publish of it is indeterminate
// (the broker did store them), and the producer reconnects and goes on.
func TestConnectionLossIsIndeterminate(t *testing.T) {
	url := sharedURL(t)
	px := newProxy(t, strings.TrimSuffix(strings.TrimPrefix(url, "amqp://guest:guest@"), "/"))
	s := scenario(t, "conn-loss", nil)
	s.Broker.Target, s.Broker.URL = scenarios.TargetURL, "amqp://guest:guest@"+px.addr()+"/"
	tgt := openAt(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := newCompletions()
	var ns noticeLog
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{ID: 0, OnComplete: got.complete, Notify: ns.add})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	px.freeze()
	publish(t, ctx, p, 0, 0, 100)
	queue := rabbitmq.Queues(tgt.Driver)[0]
	if err := waitFor(ctx, "the broker to store the publishes", func() bool {
		n, err := queueDepth(ctx, url, queue)
		return err == nil && n == 100
	}); err != nil {
		t.Fatal(err)
	}
	if n := got.total(); n != 0 {
		t.Fatalf("%d publishes completed while the confirms were held", n)
	}
	px.cut()
	if err := waitFor(ctx, "completions after the cut", func() bool { return got.total() == 100 }); err != nil {
		t.Fatal(err)
	}
	if got.count(broker.Indeterminate) != 100 {
		t.Errorf("%d indeterminate of 100", got.count(broker.Indeterminate))
	}
	publish(t, ctx, p, 0, 100, 1)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if o := got.outcomes[100]; o != broker.Acked {
		t.Errorf("publish after the reconnect: %s", o)
	}
	if k := ns.kinds(); k["disconnected"] != 1 || k["reconnected"] != 1 {
		t.Errorf("notices %v: want one disconnected, one reconnected", k)
	}
}

type noticeLog struct {
	mu  sync.Mutex
	all []broker.Notice
}

func (n *noticeLog) add(x broker.Notice) {
	n.mu.Lock()
	n.all = append(n.all, x)
	n.mu.Unlock()
}

func (n *noticeLog) kinds() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := map[string]int{}
	for _, x := range n.all {
		m[x.Kind]++
	}
	return m
}

// proxy forwards TCP connections to a broker; freeze holds what the broker
// sends on the connections open at the time, cut drops them all.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []*proxied
	wg     sync.WaitGroup
}

type proxied struct {
	client, server net.Conn
	mu             sync.Mutex
	thaw           chan struct{} // closed while forwarding broker to client
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{l: l, target: target}
	px.wg.Add(1)
	go px.accept()
	t.Cleanup(func() {
		l.Close()
		px.cut()
		px.wg.Wait()
	})
	return px
}

func (px *proxy) addr() string { return px.l.Addr().String() }

func (px *proxy) accept() {
	defer px.wg.Done()
	for {
		c, err := px.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", px.target)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxied{client: c, server: s, thaw: make(chan struct{})}
		close(pc.thaw)
		px.mu.Lock()
		px.conns = append(px.conns, pc)
		px.mu.Unlock()
		px.wg.Add(2)
		go func() {
			defer px.wg.Done()
			_, _ = io.Copy(s, c)
			s.Close()
		}()
		go func() {
			defer px.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					pc.mu.Lock()
					thaw := pc.thaw
					pc.mu.Unlock()
					<-thaw
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			c.Close()
		}()
	}
}

func (px *proxy) freeze() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, pc := range px.conns {
		pc.mu.Lock()
		pc.thaw = make(chan struct{})
		pc.mu.Unlock()
	}
}

func (px *proxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, pc := range px.conns {
		pc.client.Close()
		pc.server.Close()
		pc.mu.Lock()
		select {
		case <-pc.thaw:
		default:
			close(pc.thaw)
		}
		pc.mu.Unlock()
	}
	px.conns = nil
}
