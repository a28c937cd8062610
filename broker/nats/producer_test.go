package nats_test

import (
	"sync"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/nats"
)

// TestCoreCompletions: a core producer on the embedded server completes
// every publish once, acked (its flush came back), in publish order,
// whether the swarm takes completions one by one or in batches.
func TestCoreCompletions(t *testing.T) {
	t.Parallel()
	for _, batched := range []bool{false, true} {
		name := map[bool]string{false: "one-by-one", true: "batched"}[batched]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tgt, err := nats.Open(ctx, &nats.Config{Mode: "core"}, broker.Spec{Destination: "core-" + name, Producers: 1, MaxInFlight: 100},
				broker.Env{RunID: "core-" + name, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close(ctx)
			defer tgt.Driver.Close(ctx)
			if err := tgt.Driver.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			var (
				mu      sync.Mutex
				got     []uint64
				batches int
			)
			one := func(m *broker.Message, o broker.Outcome, err error) {
				mu.Lock()
				defer mu.Unlock()
				if o != broker.Acked {
					t.Errorf("seq %d: %v (%v), want acked", m.Seq, o, err)
				}
				got = append(got, m.Seq)
			}
			opts := broker.ProducerOptions{OnComplete: one}
			if batched {
				opts.OnCompleteBatch = func(ms []*broker.Message, o broker.Outcome, err error) {
					mu.Lock()
					batches++
					mu.Unlock()
					for _, m := range ms {
						one(m, o, err)
					}
				}
			}
			p, err := tgt.Driver.NewProducer(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5000
			for i := range n {
				if err := p.Publish(ctx, &broker.Message{Seq: uint64(i), Payload: make([]byte, 64)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != n {
				t.Fatalf("%d completions of %d publishes", len(got), n)
			}
			for i, seq := range got {
				if seq != uint64(i) {
					t.Fatalf("completion %d is seq %d: out of publish order", i, seq)
				}
			}
			if batched && (batches == 0 || batches == n) {
				t.Errorf("%d batch completions of %d publishes: want them batched by flush", batches, n)
			}
		})
	}
}
