package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// TestCheckerCountsKfakeFaults drives the whole swarm (encoded headers,
// outcomes, verifying consumers, the checker) against kfake faults and
// asserts the checker's counts exactly. One message is in flight at a time
// and linger is zero, so each produce request carries one record and a
// fault that hits N requests hits N messages.
func TestCheckerCountsKfakeFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  kfake.Fault
		counts func(c checker.Counts) checker.Counts // the expected counts, given the run's
		claims map[string]string
	}{
		{
			// Appended, then answered REQUEST_TIMED_OUT: a non-idempotent
			// producer retries and appends again. Three duplicates, nothing
			// lost, nothing indeterminate.
			name:  "append then REQUEST_TIMED_OUT, three times",
			fault: kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 3},
			counts: func(c checker.Counts) checker.Counts {
				return checker.Counts{Sent: c.Sent, Acked: c.Sent, Received: c.Sent + 3, Unique: c.Sent, Duplicated: 3}
			},
			claims: map[string]string{"at-least-once": checker.Pass, "exactly-once": checker.Fail,
				"at-most-once": checker.Fail, "ordered": checker.Pass},
		},
		{
			// Refused before the append: failed, never delivered.
			name:  "MESSAGE_TOO_LARGE, twice",
			fault: kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.MessageTooLarge, Count: 2},
			counts: func(c checker.Counts) checker.Counts {
				return checker.Counts{Sent: c.Sent, Acked: c.Sent - 2, Failed: 2, Received: c.Sent - 2, Unique: c.Sent - 2}
			},
			claims: map[string]string{"at-least-once": checker.Pass, "exactly-once": checker.Pass,
				"at-most-once": checker.Pass, "ordered": checker.Pass},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			no := false
			zero := scenarios.Duration(0)
			tgt := openTarget(t, testScenario(func(s *scenarios.Scenario) {
				s.Broker.Kafka.Partitions = 1
				s.Broker.Kafka.Idempotent = &no
				s.Broker.Kafka.Linger = &zero
			}))
			sw := swarm.New(swarm.Config{RunID: 7, Seed: 1, Producers: 1, Consumers: 1, Duration: 1500 * time.Millisecond,
				MessageSize: 100, MaxInFlight: 1}, tgt.Driver, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := sw.StartConsumers(ctx); err != nil {
				t.Fatal(err)
			}
			defer sw.Close()
			f := tc.fault
			f.Topic = topicOf(tgt)
			h := cluster(t, tgt).Fault(f)
			if err := sw.Produce(ctx); err != nil {
				t.Fatal(err)
			}
			if dr := sw.Drain(ctx, 30*time.Second, 2*time.Second); !dr.Drained {
				t.Fatalf("drain: %s", dr.Reason)
			}
			sw.Close()
			if hits := h.Hits(); hits != max(f.Count, 1) {
				t.Fatalf("the fault hit %d requests, want %d", hits, f.Count)
			}
			res := sw.Collector().Finalize(checker.Options{Drained: true, Claims: []string{"at-least-once", "exactly-once", "at-most-once", "ordered"}})
			got := res.Counts
			if got.Sent < 20 {
				t.Fatalf("only %d messages sent", got.Sent)
			}
			if want := tc.counts(got); got != want {
				t.Errorf("counts\n got %+v\nwant %+v", got, want)
			}
			for _, cl := range res.Claims {
				if cl.Verdict != tc.claims[cl.Name] {
					t.Errorf("%s: %s (%s), want %s", cl.Name, cl.Verdict, cl.Summary, tc.claims[cl.Name])
				}
			}
		})
	}
}
