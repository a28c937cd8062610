package redis

import (
	"context"
	"slices"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
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
