package rabbitmq

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestConnectEndsWithContext: a broker that takes the TCP connection and
// never answers (a node booting, a blackholed proxy) holds connect only as
// long as its context, not for the handshake timeout: a run stopping at
// its drain deadline must not wait for it.
func TestConnectEndsWithContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn // accepted, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		l.Close()
		<-done
	}()
	st := &settings{}
	if err := st.setURL("amqp://guest:guest@" + l.Addr().String() + "/"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = st.connect(ctx, "hung")
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	// Far below the handshake timeout, far above the context's 300ms.
	if took > handshakeTimeout/2 {
		t.Errorf("connect returned after %s; its context ended after 300ms", took.Round(time.Millisecond))
	}
}
