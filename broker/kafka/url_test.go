package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// TestURLTarget drives an embedded cluster that requires SCRAM through a
// url target: Setup creates the topic, records flow, Driver.Close deletes
// the topic and the run's groups again.
func TestURLTarget(t *testing.T) {
	t.Parallel()
	auth := &SASL{Mechanism: "SCRAM-SHA-256", User: "mq", Password: "s3cret"}
	host := openTarget(t, testScenario(func(s *testSetup) {
		s.cfg = &Config{Brokers: 2, Partitions: 2, SASL: auth}
	}))
	addrs := Addrs(host)
	if len(addrs) != 2 {
		t.Fatalf("Addrs = %v, want 2 addresses", addrs)
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":9092") {
			t.Errorf("embedded broker on %s, want a free 127.0.0.1 port", a)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testScenario(func(s *testSetup) {
		s.spec.Target = broker.TargetURL
		s.spec.URL = strings.Join(addrs, ",")
		s.spec.Destination = "url-target-topic"
		s.cfg = &Config{Partitions: 3, ReplicationFactor: 1, SASL: auth}
	})
	tgt, err := Open(ctx, s.cfg, s.spec, broker.Env{RunID: "urlrun", Dir: t.TempDir(), Log: testLog()})
	if err != nil {
		t.Fatalf("open url target: %v", err)
	}
	if tgt.Restarter != nil {
		t.Error("url target has a Restarter")
	}
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatalf("setup: %v", err)
	}

	var ns notices
	got := newReceived()
	c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{ID: 0, Subscription: 0, Notify: ns.add})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(runCtx, got.handler) }()
	out := newOutcomes()
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{ID: 4, OnComplete: out.complete})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for seq := range uint64(n) {
		if err := p.Publish(ctx, message(4, seq)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if a := out.count(broker.Acked); a != n {
		t.Fatalf("acked %d of %d: %v", a, n, out.errs)
	}
	if err := waitFor(ctx, "deliveries", func() bool { return got.unique() == n }); err != nil {
		t.Fatalf("%v: %d of %d", err, got.unique(), n)
	}
	stopRun()
	if err := <-runErr; err != nil {
		t.Errorf("consumer: %v", err)
	}
	if err := errors.Join(p.Close(), c.Close()); err != nil {
		t.Fatal(err)
	}
	// Publish after Close is refused, not completed.
	if err := p.Publish(ctx, message(4, n)); err == nil {
		t.Error("publish after Close returned nil")
	}

	if err := tgt.Driver.Close(ctx); err != nil {
		t.Fatalf("driver close: %v", err)
	}
	if err := tgt.Close(ctx); err != nil {
		t.Fatalf("target close: %v", err)
	}
	adm := host.Driver.(*driver).adm
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("url-target-topic") {
		t.Error("Driver.Close left the topic it created")
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs := groups.Groups(); len(gs) != 0 {
		t.Errorf("Driver.Close left consumer groups %v", gs)
	}
}

// TestURLUnreachable: nothing listens at the address; Open must say so
// quickly, as broker.ErrUnreachable (mqcheck exits 3).
func TestURLUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	s := testScenario(func(s *testSetup) {
		s.spec.Target = broker.TargetURL
		s.spec.URL = addr
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	tgt, err := Open(ctx, s.cfg, s.spec, broker.Env{RunID: "unreachable", Dir: t.TempDir()})
	took := time.Since(start)
	if err == nil {
		tgt.Driver.Close(ctx)
		t.Fatal("Open succeeded with nothing listening")
	}
	if !errors.Is(err, broker.ErrUnreachable) {
		t.Errorf("error %v does not wrap broker.ErrUnreachable", err)
	}
	if took > 6*time.Second {
		t.Errorf("took %s to give up", took)
	}
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
}

// TestURLSilentBroker: something accepts connections and never answers;
// Open gives up after its bound instead of waiting for franz-go's timeouts.
func TestURLSilentBroker(t *testing.T) {
	t.Parallel()
	addr := testenv.SilentServer(t)
	s := testScenario(func(s *testSetup) {
		s.spec.Target = broker.TargetURL
		s.spec.URL = addr
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	tgt, err := Open(ctx, s.cfg, s.spec, broker.Env{RunID: "silent", Dir: t.TempDir()})
	took := time.Since(start)
	if err == nil {
		tgt.Driver.Close(ctx)
		t.Fatal("Open succeeded against a silent listener")
	}
	if !errors.Is(err, broker.ErrUnreachable) {
		t.Errorf("error %v does not wrap broker.ErrUnreachable", err)
	}
	if took > unreachableAfter+time.Second {
		t.Errorf("took %s to give up", took)
	}
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
}

// TestPingError: a broker that answers with a refusal is reached; only
// silence and broken connections are ErrUnreachable. (kfake drops the
// connection on a wrong password instead of answering, so this is checked on
// the classification rather than end to end.)
func TestPingError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err         error
		unreachable bool
	}{
		{fmt.Errorf("authenticating: %w", kerr.SaslAuthenticationFailed), false},
		{kerr.ClusterAuthorizationFailed, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{io.EOF, true},
		{context.DeadlineExceeded, true},
	} {
		err := pingError("127.0.0.1:1", tc.err)
		if got := errors.Is(err, broker.ErrUnreachable); got != tc.unreachable {
			t.Errorf("%v: unreachable = %v, want %v", tc.err, got, tc.unreachable)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: cause lost in %v", tc.err, err)
		}
	}
}
