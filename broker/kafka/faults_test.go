package kafka

import (
	"context"
	"errors"
	"github.com/mqcheck/mqcheck/units"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqcheck/mqcheck/broker"
)

// TestInjectedProduceFaults answers chosen produce requests of a
// non-idempotent producer with kfake faults and checks the exact outcomes
// and deliveries each causes. Messages are published one at a time, so each
// produce request carries exactly one record and each fault hits exactly one
// message.
func TestInjectedProduceFaults(t *testing.T) {
	t.Parallel()
	const n = 30
	for _, tc := range []struct {
		name string
		// faults installs what the next publish runs into.
		faults   func(c *kfake.Cluster, topic string) []*kfake.FaultHandle
		at       []uint64 // seqs published into the faults
		delivery units.Duration
		// what the faulted messages must complete as and how often each
		// must be delivered
		want       broker.Outcome
		wantErr    error
		deliveries int
	}{
		{
			// The append happens, the answer says it timed out: the client
			// retries (franz-go retries an unsure batch for ever) and the
			// retry appends again. Acked, delivered twice.
			name: "append then REQUEST_TIMED_OUT",
			faults: func(c *kfake.Cluster, topic string) []*kfake.FaultHandle {
				return []*kfake.FaultHandle{c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.RequestTimedOut})}
			},
			at:         []uint64{3, 11, 19},
			want:       broker.Acked,
			deliveries: 2,
		},
		{
			// The append happens, the answer says it timed out, and every
			// retry is refused before the append until delivery_timeout:
			// the producer cannot know, the record is in the log once.
			name: "append then no answer until the delivery timeout",
			faults: func(c *kfake.Cluster, topic string) []*kfake.FaultHandle {
				return []*kfake.FaultHandle{
					c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.RequestTimedOut}),
					c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotEnoughReplicas, Count: -1}),
				}
			},
			at:         []uint64{5, 15},
			delivery:   units.Duration(time.Second),
			want:       broker.Indeterminate,
			wantErr:    kgo.ErrRecordTimeout,
			deliveries: 1,
		},
		{
			// A definitive refusal before the append: failed, never there.
			name: "MESSAGE_TOO_LARGE",
			faults: func(c *kfake.Cluster, topic string) []*kfake.FaultHandle {
				return []*kfake.FaultHandle{c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.MessageTooLarge})}
			},
			at:         []uint64{7, 21},
			want:       broker.Failed,
			wantErr:    kerr.MessageTooLarge,
			deliveries: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			no := false
			tgt := openTarget(t, testScenario(func(s *testSetup) {
				s.cfg = &Config{Brokers: 1, Partitions: 1, Idempotent: &no, DeliveryTimeout: tc.delivery}
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			c := cluster(t, tgt)
			topic := topicOf(tgt)

			// Count produce requests without answering them.
			var requests atomic.Int64
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				requests.Add(1)
				return nil, nil, false
			})

			var ns notices
			got := newReceived()
			startConsumer(t, tgt.Driver, 0, 0, got, &ns)
			out := newOutcomes()
			out.done = make(chan msgKey, 1)
			p := newProducer(t, tgt.Driver, 0, out, &ns)

			for seq := range uint64(n) {
				var hs []*kfake.FaultHandle
				if slices.Contains(tc.at, seq) {
					hs = tc.faults(c, topic)
				}
				if err := p.Publish(ctx, message(0, seq)); err != nil {
					t.Fatalf("publish %d: %v", seq, err)
				}
				select {
				case <-out.done:
				case <-ctx.Done():
					t.Fatalf("seq %d never completed", seq)
				}
				for _, h := range hs {
					h.Remove()
				}
			}

			k := len(tc.at)
			wantDelivered := (n - k) + k*tc.deliveries
			if err := waitFor(ctx, "deliveries", func() bool { got.mu.Lock(); defer got.mu.Unlock(); return got.total >= wantDelivered }); err != nil {
				t.Fatalf("%v: %d of %d", err, got.total, wantDelivered)
			}
			time.Sleep(300 * time.Millisecond) // room for deliveries beyond the expected

			for seq := range uint64(n) {
				key := msgKey{0, seq}
				want, wantDel := broker.Acked, 1
				if slices.Contains(tc.at, seq) {
					want, wantDel = tc.want, tc.deliveries
					if tc.wantErr != nil && !errors.Is(out.errs[key], tc.wantErr) {
						t.Errorf("seq %d: error %v, want %v", seq, out.errs[key], tc.wantErr)
					}
				}
				if o := out.byKey[key]; o != want {
					t.Errorf("seq %d: %s (%v), want %s", seq, o, out.errs[key], want)
				}
				got.mu.Lock()
				if d := got.count[key]; d != wantDel {
					t.Errorf("seq %d delivered %d times, want %d", seq, d, wantDel)
				}
				got.mu.Unlock()
			}
			got.mu.Lock()
			total := got.total
			got.mu.Unlock()
			if total != wantDelivered {
				t.Errorf("%d deliveries, want %d", total, wantDelivered)
			}
			t.Logf("%d faulted of %d: %d acked, %d indeterminate, %d failed; %d deliveries (%d duplicated); %d produce requests",
				k, n, out.count(broker.Acked), out.count(broker.Indeterminate), out.count(broker.Failed),
				total, len(got.duplicates()), requests.Load())
			if tc.name == "append then REQUEST_TIMED_OUT" && requests.Load() != n+int64(k) {
				t.Errorf("%d produce requests, want %d (one retry per fault)", requests.Load(), n+k)
			}
		})
	}
}
