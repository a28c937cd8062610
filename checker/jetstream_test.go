package checker

import "testing"

// TestJetStreamDedupeClaim: jetstream-dedupe allows a stored copy
// delivered again (ack_wait ran out, a nak), and fails on a copy stored
// twice (a re-sent Msg-Id stored again) and on loss; a duplicate without
// a position leaves it undecided.
func TestJetStreamDedupeClaim(t *testing.T) {
	pass, fail, unknown := Pass, Fail, Unknown
	for _, tc := range []struct {
		name, history string
		want          string
	}{
		{"clean", "s 0:0-3; a 0:0-3; r s0 g0 0:0-3@10", pass},
		{"redelivered copy", "s 0:0-3; a 0:0-3; r s0 g0 0:0-3@10; R s0 g0 0:2@12", pass},
		{"stored twice", "s 0:0-3; a 0:0-3; r s0 g0 0:0-3@10; r s0 g0 0:2@99", fail},
		{"lost", "s 0:0-3; a 0:0-3; r s0 g0 0:0-2@10", fail},
		{"out of order is not its business", "s 0:0-3; a 0:0-3; r s0 g0 0:0,2,1,3@10", pass},
		{"duplicate without position", "s 0:0-3; a 0:0-3; r s0 g0 0:0-3; r s0 g0 0:2", unknown},
	} {
		t.Run(tc.name, func(t *testing.T) { checkClaimOn(t, "jetstream-dedupe", tc.history, tc.want) })
	}
}
