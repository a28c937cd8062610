package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mqcheck/mqcheck/broker"
)

// TestGroupProtocolsInEffect: group_protocol consumer makes a KIP-848
// group on the broker (franz-go would fall back to the classic protocol
// silently with a balancer the broker cannot run), with the assignor the
// balancer names; share makes a share group. Each is asked of the broker.
func TestGroupProtocolsInEffect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		protocol, balancer, assignor string
	}{{"consumer", "", "uniform"}, {"consumer", "range", "range"}, {"share", "", ""}} {
		t.Run(tc.protocol+"-"+tc.assignor, func(t *testing.T) {
			t.Parallel()
			tgt := openTarget(t, testScenario(func(s *testSetup) {
				s.cfg.GroupProtocol, s.cfg.GroupBalancer = tc.protocol, tc.balancer
			}))
			c, err := tgt.Driver.NewConsumer(t.Context(), broker.ConsumerOptions{ID: 0})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx, func(*broker.Delivery) error { return nil }) }()
			defer func() {
				cancel()
				<-done
				c.Close()
			}()
			d := tgt.Driver.(*driver)
			group := groupOf(tgt, 0)
			deadline := time.Now().Add(30 * time.Second)
			for {
				members, assignor, err := describeGroup(t.Context(), d, tc.protocol, group)
				if err == nil && members == 1 {
					if assignor != tc.assignor {
						t.Errorf("assignor %q, want %q", assignor, tc.assignor)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("group %s is no %s group with one member: %d members, %v", group, tc.protocol, members, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// describeGroup asks the broker about group as a KIP-848 consumer group or
// a share group: a classic group answers neither.
func describeGroup(ctx context.Context, d *driver, protocol, group string) (members int, assignor string, err error) {
	if protocol == "share" {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{group}
		resp, err := req.RequestWith(ctx, d.admCl)
		if err != nil {
			return 0, "", err
		}
		g := resp.Groups[0]
		return len(g.Members), "", kerr.ErrorForCode(g.ErrorCode)
	}
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, d.admCl)
	if err != nil {
		return 0, "", err
	}
	g := resp.Groups[0]
	return len(g.Members), g.AssignorName, kerr.ErrorForCode(g.ErrorCode)
}
