package chaos

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/brokertest"
)

// lockedBuffer is a bytes.Buffer for a log handler written from
// toxiproxy's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNetworkLogsUpstreamFailures: a proxy that cannot reach its broker
// says so in the run's log (debug level), so that a run whose clients get
// nothing through a proxy shows what the proxy saw.
func TestNetworkLogsUpstreamFailures(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: the proxy's dial is refused.
	addr := brokertest.ClosedAddr(t)
	var buf lockedBuffer
	nw := NewNetwork()
	nw.LogTo(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := nw.Start([]string{addr}); err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nw.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The proxy accepts, fails to reach the broker and closes the
	// client's connection: the read ends, and the log says why.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Read(make([]byte, 1))
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if s := buf.String(); strings.Contains(s, "unable to open a connection to the upstream") && strings.Contains(s, addr) {
			return
		}
	}
	t.Fatalf("no proxy event naming the upstream %s in the log:\n%s", addr, buf.String())
}
