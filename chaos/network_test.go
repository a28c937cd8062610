package chaos

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// echoServer answers every line with itself and counts the lines it got.
type echoServer struct {
	ln    net.Listener
	lines atomic.Int64
	wg    sync.WaitGroup
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln}
	var mu sync.Mutex
	var conns []net.Conn
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					s.lines.Add(1)
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// roundTrip sends a line on c and waits at most wait for it to come back.
func roundTrip(c net.Conn, r *bufio.Reader, wait time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetDeadline(start.Add(wait))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return 0, err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != "ping\n" {
		return 0, errors.New("garbled: " + line)
	}
	return time.Since(start), nil
}

func networkFault(t *testing.T, nw *Network, f scenarios.Fault) Fault {
	t.Helper()
	plan, err := Plan([]scenarios.Fault{f}, Deps{Target: &broker.Target{Description: "echo", Endpoints: []string{"x"}}, Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	return plan[0].Fault
}

// TestNetworkFaults injects each network fault between a client and an echo
// server through the proxy and checks what gets through, then heals it.
func TestNetworkFaults(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t)
	addr := srv.ln.Addr().String()
	nw := NewNetwork()
	if err := nw.Start([]string{addr}); err != nil {
		t.Fatal(err)
	}
	proxyAddr := nw.Routes()[addr]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := nw.Dial(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if c.RemoteAddr().String() != proxyAddr {
			t.Fatalf("dialed %s, want the proxy %s", c.RemoteAddr(), proxyAddr)
		}
		return c, bufio.NewReader(c)
	}
	c, r := dial()
	defer c.Close()
	base, err := roundTrip(c, r, time.Second)
	if err != nil {
		t.Fatalf("no fault: %v", err)
	}

	t.Run("latency", func(t *testing.T) {
		f := networkFault(t, nw, scenarios.Fault{Kind: "latency", For: dur(time.Second), Latency: dur(100 * time.Millisecond),
			Jitter: dur(10 * time.Millisecond)})
		if err := f.Inject(ctx); err != nil {
			t.Fatal(err)
		}
		d, err := roundTrip(c, r, 2*time.Second)
		if err != nil || d < 180*time.Millisecond {
			t.Errorf("round trip %v (%v) under 100ms±10ms each way, want at least 180ms", d, err)
		}
		if err := f.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		if d2, err := roundTrip(c, r, time.Second); err != nil || d2 > 50*time.Millisecond+base {
			t.Errorf("after heal: round trip %v (%v)", d2, err)
		}
		t.Logf("round trip %v without, %v with latency 100ms±10ms each way", base, d)
	})

	t.Run("bandwidth", func(t *testing.T) {
		f := networkFault(t, nw, scenarios.Fault{Kind: "bandwidth", For: dur(time.Second), Bandwidth: 10000})
		if err := f.Inject(ctx); err != nil {
			t.Fatal(err)
		}
		big := make([]byte, 5000)
		for i := range big {
			big[i] = 'x'
		}
		big[len(big)-1] = '\n'
		start := time.Now()
		_ = c.SetDeadline(start.Add(5 * time.Second))
		if _, err := c.Write(big); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		// 5000 bytes at 10 kB/s each way: about a second.
		if d := time.Since(start); d < 700*time.Millisecond {
			t.Errorf("5000 bytes each way at 10kB/s took %v", d)
		}
		if err := f.Heal(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("blackhole", func(t *testing.T) {
		f := networkFault(t, nw, scenarios.Fault{Kind: "blackhole", For: dur(time.Second)})
		if err := f.Inject(ctx); err != nil {
			t.Fatal(err)
		}
		before := srv.lines.Load()
		if _, err := roundTrip(c, r, 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("through a blackhole: %v, want a timeout (connection open, nothing back)", err)
		}
		if srv.lines.Load() != before {
			t.Error("the server got bytes through a blackhole")
		}
		c2, r2 := dial() // new connections are blackholed too
		if _, err := roundTrip(c2, r2, 200*time.Millisecond); !isTimeout(err) {
			t.Errorf("new connection through a blackhole: %v, want a timeout", err)
		}
		if err := f.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		// The connections that lost bytes are closed; new ones work.
		if _, err := roundTrip(c2, r2, time.Second); err == nil {
			t.Error("a connection that lost bytes still works after the heal")
		}
		c2.Close()
		c.Close()
		c, r = dial()
		if _, err := roundTrip(c, r, time.Second); err != nil {
			t.Errorf("after heal: %v", err)
		}
	})

	t.Run("ack-loss", func(t *testing.T) {
		f := networkFault(t, nw, scenarios.Fault{Kind: "ack-loss", For: dur(time.Second)})
		if err := f.Inject(ctx); err != nil {
			t.Fatal(err)
		}
		before := srv.lines.Load()
		if _, err := roundTrip(c, r, 300*time.Millisecond); !isTimeout(err) {
			t.Errorf("under ack loss: %v, want a timeout", err)
		}
		if got := srv.lines.Load() - before; got != 1 {
			t.Errorf("the server got %d lines under ack loss, want the 1 sent", got)
		}
		if err := f.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
		c, r = dial()
		if _, err := roundTrip(c, r, time.Second); err != nil {
			t.Errorf("after heal: %v", err)
		}
	})

	t.Run("reset", func(t *testing.T) {
		f := networkFault(t, nw, scenarios.Fault{Kind: "reset", For: dur(time.Second)})
		if err := f.Inject(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := roundTrip(c, r, time.Second); err == nil || isTimeout(err) {
			t.Errorf("under reset: %v, want the connection reset", err)
		}
		if err := f.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
		c, r = dial()
		if _, err := roundTrip(c, r, time.Second); err != nil {
			t.Errorf("after heal: %v", err)
		}
	})

	// Nothing left behind: the proxy's port is closed, Dial goes direct.
	nw.Close()
	nw.Close()
	if pc, err := net.DialTimeout("tcp", proxyAddr, time.Second); err == nil {
		pc.Close()
		t.Errorf("the proxy still listens on %s after Close", proxyAddr)
	}
	c.Close()
	c, err = nw.Dial(ctx, "tcp", addr)
	if err != nil || c.RemoteAddr().String() != addr {
		t.Errorf("after Close, Dial should reach %s directly: %v", addr, err)
	} else {
		c.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestLatencyToxicRemovedWhileStuck: a latency toxic whose next stage stops
// reading (the broker behind it was killed) still lets itself be removed,
// within its write bound: the heal that removes it never hangs.
func TestLatencyToxicRemovedWhileStuck(t *testing.T) {
	in, out := make(chan *stream.StreamChunk, 2), make(chan *stream.StreamChunk) // out: nobody reads
	stub := toxics.NewToxicStub(in, out)
	tox := &toxics.ToxicWrapper{Toxic: &seededLatency{LatencyUS: 1000}, Toxicity: 1}
	go stub.Run(tox)
	in <- &stream.StreamChunk{Data: []byte("a"), Timestamp: time.Now()}
	time.Sleep(20 * time.Millisecond) // past the delay: the toxic is sending
	done := make(chan bool)
	go func() { done <- stub.InterruptToxic() }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("InterruptToxic: the stub was closed")
		}
	case <-time.After(10 * interruptedWrite):
		t.Fatal("removing the toxic hung while its output was not read")
	}
}

// TestLatencyHealWhileUpstreamStopsReading: a latency fault heals within
// seconds while the proxy's upstream has stopped reading (a killed
// broker's socket) with chunks queued behind the toxic: toxiproxy hands
// each queued chunk on for 5 s before it gives up, so without the toxic's
// own bounded hand-on (seededLatency.Cleanup) the heal took minutes and held the
// proxy's lock, so that clients could not connect again.
func TestLatencyHealWhileUpstreamStopsReading(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	nw := NewNetwork()
	if err := nw.Start([]string{addr}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			go nw.Close() // waits for the stuck heal: the test ends without it
			return
		}
		nw.Close()
	}()
	var mu sync.Mutex
	var held []net.Conn // accepted, never read
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := networkFault(t, nw, scenarios.Fault{Kind: "latency", For: dur(time.Second), Latency: dur(time.Millisecond)})
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := nw.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Write until the path is full: the upstream's buffers, the proxy's
	// writer, the toxic's queue of 1,024 chunks and the reader before it.
	chunk := make([]byte, 512)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	start := time.Now()
	healed := make(chan error, 1)
	go func() { healed <- f.Heal(ctx) }()
	select {
	case err := <-healed:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("healed in %v", time.Since(start))
	case <-time.After(5 * interruptedWrite):
		t.Fatalf("heal still waiting after %v with the upstream not reading", time.Since(start))
	}
	// The proxy takes new connections again.
	c2, err := nw.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dialing after the heal: %v", err)
	}
	c2.Close()
}
