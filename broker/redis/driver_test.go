package redis

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/units"
)

// TestPublishArgs: the arguments the producer makes once per message are
// those go-redis's own XAdd and Publish send, and they follow the message
// to a new payload buffer.
func TestPublishArgs(t *testing.T) {
	ctx := context.Background()
	cli := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialled: commands are only built
	defer cli.Close()
	for _, tc := range []struct {
		name string
		cfg  Config
		want func(payload []byte) []any
	}{
		{"xadd", Config{}, func(b []byte) []any {
			return cli.Pipeline().XAdd(ctx, &goredis.XAddArgs{Stream: "s", Values: []any{"m", b}}).Args()
		}},
		{"xadd maxlen exact", Config{MaxLen: 10}, func(b []byte) []any {
			return cli.Pipeline().XAdd(ctx, &goredis.XAddArgs{Stream: "s", MaxLen: 10, Values: []any{"m", b}}).Args()
		}},
		{"xadd maxlen approx", Config{MaxLen: 10, MaxLenApprox: true}, func(b []byte) []any {
			return cli.Pipeline().XAdd(ctx, &goredis.XAddArgs{Stream: "s", MaxLen: 10, Approx: true, Values: []any{"m", b}}).Args()
		}},
		{"publish", Config{Mode: "pubsub"}, func(b []byte) []any {
			return cli.Pipeline().Publish(ctx, "s", b).Args()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &producer{d: &driver{cfg: &tc.cfg, key: "s"}}
			m := &broker.Message{Payload: []byte("first")}
			for _, payload := range [][]byte{m.Payload, m.Payload, []byte("other"), []byte("longer one")} {
				m.Payload = payload
				got, want := p.args(m), tc.want(payload)
				if !slices.EqualFunc(got, want, sameArg) {
					t.Errorf("payload %q: args %v, go-redis sends %v", payload, got, want)
				}
			}
		})
	}
}

// sameArg compares arguments as go-redis writes them: a []byte by content
// and by buffer (the payload must not be copied, nor a stale one sent).
func sameArg(a, b any) bool {
	ab, ok1 := a.([]byte)
	bb, ok2 := b.([]byte)
	if ok1 || ok2 {
		return ok1 && ok2 && len(ab) == len(bb) && (len(ab) == 0 || &ab[0] == &bb[0])
	}
	return a == b
}

// TestProducerCloseMidBatch: closed while a pipeline hangs (a server that
// never answers) with more taken from the queue behind it, the producer
// completes every message exactly once and in order: the pipeline's when
// its round trip times out, the rest as not sent.
func TestProducerCloseMidBatch(t *testing.T) {
	addr := testenv.SilentServer(t)
	cfg := &Config{RequestTimeout: units.Duration(300 * time.Millisecond)}
	d := newDriver(cfg, broker.Spec{Destination: "s"}, broker.Env{}, func() goredis.UniversalClient {
		return goredis.NewClient(clientOptions(cfg, addr, broker.Env{}, nil))
	})
	defer d.admin.Close()

	var mu sync.Mutex
	var got []uint64
	outcomes := map[broker.Outcome]int{}
	bp, err := d.NewProducer(context.Background(), broker.ProducerOptions{OnComplete: func(m *broker.Message, o broker.Outcome, _ error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m.Seq)
		outcomes[o]++
	}})
	if err != nil {
		t.Fatal(err)
	}
	p := bp.(*producer)
	const n = 3*pipeMax + 10
	for i := range n {
		if err := p.Publish(context.Background(), &broker.Message{Seq: uint64(i), Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	// Close once the loop has taken everything: a pipeline is in flight
	// and more than another one waits behind it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		p.mu.Lock()
		queued := len(p.queue)
		p.mu.Unlock()
		if queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop left %d messages queued", queued)
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("completed %d messages, %v..., want each of 0..%d once, in order", len(got), got[:min(len(got), 10)], n-1)
	}
	if outcomes[broker.Indeterminate] != n {
		t.Errorf("outcomes %v, want all %d indeterminate", outcomes, n)
	}
}
