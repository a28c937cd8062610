package mqtt

import (
	"context"
	"io"
	"testing"

	"github.com/eclipse/paho.golang/packets"

	"github.com/mqcheck/mqcheck/broker"
)

// TestSessionStoredAfterSweep: a publish paho stores after the
// connection's end was served (takeAll) is not left in the session, where
// nothing would ever complete it, but marked late, which its publish
// completes as indeterminate; one stored before the sweep is swept.
func TestSessionStoredAfterSweep(t *testing.T) {
	ctx := context.Background()
	s := newSession(10)
	if err := s.ConAckReceived(io.Discard, &packets.Connect{ClientID: "p"}, &packets.Connack{}); err != nil {
		t.Fatal(err)
	}
	before := &broker.Message{Seq: 1}
	s.next = before
	if err := s.AddToSession(ctx, &packets.Publish{QoS: 1, Topic: "t"}, nil); err != nil {
		t.Fatal(err)
	}
	if !s.recorded || s.late {
		t.Fatalf("before the sweep: recorded %v, late %v; want recorded", s.recorded, s.late)
	}
	if got := s.takeAll(); len(got) != 1 || got[0] != before {
		t.Fatalf("the sweep took %v, want the message stored before it", got)
	}
	s.next, s.recorded, s.late = &broker.Message{Seq: 2}, false, false
	if err := s.AddToSession(ctx, &packets.Publish{QoS: 1, Topic: "t"}, nil); err != nil {
		t.Fatal(err)
	}
	if s.recorded || !s.late {
		t.Errorf("after the sweep: recorded %v, late %v; want late, not recorded", s.recorded, s.late)
	}
	if got := s.takeAll(); len(got) != 0 {
		t.Errorf("%d messages left in a swept session, want none", len(got))
	}
}
