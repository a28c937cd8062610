package checker

import (
	"strings"
	"testing"
)

// TestAbortedReads: an aborted message is neither acked nor lost nor
// indeterminate; received, it is an aborted read (per subscription),
// whose evidence names the producer's transaction and its seq range.
func TestAbortedReads(t *testing.T) {
	for _, tc := range []struct {
		name, history string
		subs          []string
		want          Counts
		examples      []string // details of the aborted_read evidence, in order
	}{
		{
			name:    "read_committed: aborted never seen",
			history: "s 0:0-9; a 0:0-4#1; x 0:5-9#2; r s0 p0 0:0-4@0",
			want:    Counts{Sent: 10, Acked: 5, Aborted: 5, Received: 5, Unique: 5},
		},
		{
			name:     "read_uncommitted: the aborted transaction read",
			history:  "s 0:0-9; r s0 p0 0:0-9@0; a 0:0-4#1; x 0:5-9#2",
			want:     Counts{Sent: 10, Acked: 5, Aborted: 5, Received: 10, Unique: 10, AbortedRead: 5},
			examples: []string{"transaction 2 of producer 0 (seq 5 to 9)"},
		},
		{
			name:     "two aborted transactions back to back are two examples",
			history:  "s 0:0-14; a 0:0-4#1; x 0:5-9#2; x 0:10-14#3; r s0 p0 0:0-14@0",
			want:     Counts{Sent: 15, Acked: 5, Aborted: 10, Received: 15, Unique: 15, AbortedRead: 10},
			examples: []string{"transaction 2 of producer 0 (seq 5 to 9)", "transaction 3 of producer 0 (seq 10 to 14)"},
		},
		{
			name:     "part of a transaction read, in two subscriptions",
			subs:     []string{"s0", "s1"},
			history:  "s 0:0-9; a 0:0-4#1; x 0:5-9#2; r s0 p0 0:0-6@0; r s1 p0 0:0-4@0,8@8",
			want:     Counts{Sent: 10, Acked: 5, Aborted: 5, Received: 13, Unique: 13, AbortedRead: 3},
			examples: []string{"2 of its messages delivered", "1 of its messages delivered"},
		},
		{
			name:    "an abort the producer could not confirm is indeterminate, and recovered when read",
			history: "s 0:0-9; a 0:0-4#1; i 0:5-9; r s0 p0 0:0-9@0",
			want:    Counts{Sent: 10, Acked: 5, Indeterminate: 5, Recovered: 5, Received: 10, Unique: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subs := tc.subs
			if subs == nil {
				subs = []string{"s0"}
			}
			names := NewNames(subs...)
			c := New(names)
			c.Apply(history(t, names, tc.history))
			r := c.Finalize(Options{Drained: true})
			if r.Counts != tc.want {
				t.Errorf("counts\n got %+v\nwant %+v", r.Counts, tc.want)
			}
			got := r.Examples["aborted_read"]
			if len(got) != len(tc.examples) {
				t.Fatalf("aborted_read evidence %+v, want %d examples", got, len(tc.examples))
			}
			for i, x := range got {
				if !strings.Contains(x.Detail, tc.examples[i]) {
					t.Errorf("example %d: %q does not say %q", i, x.Detail, tc.examples[i])
				}
			}
		})
	}
}

// TestAbortedReadNamesTransaction: the evidence carries the transaction's
// number, and past the transactions whose names are kept it still says
// what was read.
func TestAbortedReadNamesTransaction(t *testing.T) {
	names := NewNames("s0")
	c := New(names)
	c.Apply(history(t, names, "s 3:0-9; x 3:0-9#7; r s0 p0 3:2-3@2"))
	xs := c.Finalize(Options{Drained: true}).Examples["aborted_read"]
	if len(xs) != 1 || xs[0].Txn != 7 || xs[0].Producer != 3 || xs[0].Seq != 2 || xs[0].SeqEnd != 3 || xs[0].Subscription != "s0" {
		t.Fatalf("evidence %+v: want transaction 7 of producer 3, seqs 2 to 3, in s0", xs)
	}

	c = New(names)
	for i := range maxTxnSpans + 1 {
		seq := uint64(2 * i)
		c.Apply([]Event{{Kind: Sent, Producer: 0, Seq: seq}, {Kind: Aborted, Producer: 0, Seq: seq, Txn: uint32(i + 1)}})
	}
	last := uint64(2 * maxTxnSpans)
	c.Apply([]Event{{Kind: Received, Producer: 0, Seq: last, HasPosition: true}})
	xs = c.Finalize(Options{Drained: true}).Examples["aborted_read"]
	if len(xs) != 1 || xs[0].Txn != 0 || !strings.Contains(xs[0].Detail, "a transaction the broker confirmed aborted") {
		t.Fatalf("evidence %+v: want an unnamed aborted transaction past the kept names", xs)
	}
}

// TestKafkaEOSClaim: kafka-eos fails on loss, an aborted read and a copy
// stored twice; a consumer's re-read of one stored copy is allowed.
func TestKafkaEOSClaim(t *testing.T) {
	pass, fail, unknown := Pass, Fail, Unknown
	for _, tc := range []struct {
		name, history string
		drained       bool
		want          string
		words         string // in the summary
	}{
		{"clean, aborts unseen", "s 0:0-9; a 0:0-4#1; x 0:5-9#2; r s0 p0 0:0-4@0", true, pass, "5 committed messages"},
		{"re-read of one stored copy", "s 0:0-3; a 0:0-3#1; r s0 p0 0:0-3@0; r s0 p0 0:2@2", true, pass, "1 re-deliveries"},
		{"aborted read", "s 0:0-9; a 0:0-4#1; x 0:5-9#2; r s0 p0 0:0-5@0", true, fail, "1 deliveries of messages from aborted transactions"},
		{"stored twice", "s 0:0-3; a 0:0-3#1; r s0 p0 0:0-3@0; r s0 p0 0:2@9", true, fail, "1 duplicates stored twice"},
		{"lost", "s 0:0-3; a 0:0-3#1; r s0 p0 0:0-2@0", true, fail, "1 acknowledged messages never received"},
		{"phantom", "s 0:0-3; a 0:0-2; f 0:3; r s0 p0 0:0-3@0", true, fail, "phantom"},
		{"not drained", "s 0:0-3; a 0:0-3; r s0 p0 0:0-2@0", false, unknown, "drain timed out"},
		{"nothing committed", "s 0:0-3; x 0:0-3#1", true, unknown, "no message was acknowledged"},
		{"duplicate without position", "s 0:0-3; a 0:0-3; r s0 p0 0:0-3; r s0 p0 0:1", true, unknown, "without a storage position"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := NewNames("s0")
			c := New(names)
			c.Apply(history(t, names, tc.history))
			r := c.Finalize(Options{Drained: tc.drained, Claims: []string{"kafka-eos"}})
			checkVerdicts(t, r, verdicts{"kafka-eos": tc.want})
			if s := r.Claims[0].Summary; !strings.Contains(s, tc.words) {
				t.Errorf("summary %q does not say %q", s, tc.words)
			}
		})
	}
}

// TestPositionDomain: where storage positions are unique beyond the
// ordering domain (a share group's partition, read by every member), a
// copy one member had and another gets again is one stored copy delivered
// twice, not a message stored twice.
func TestPositionDomain(t *testing.T) {
	names := NewNames("s0")
	c := New(names)
	m1, m2 := names.Domain(0, "t/0@c1"), names.Domain(0, "t/0@c2")
	part := names.Domain(0, "t/0")
	c.Apply([]Event{
		{Kind: Sent, Producer: 0, Seq: 0, Count: 3}, {Kind: Acked, Producer: 0, Seq: 0}, {Kind: Acked, Producer: 0, Seq: 1}, {Kind: Acked, Producer: 0, Seq: 2},
		{Kind: Received, Domain: m1, PosDomain: part + 1, Producer: 0, Seq: 0, HasPosition: true, Position: 10},
		{Kind: Received, Domain: m1, PosDomain: part + 1, Producer: 0, Seq: 1, HasPosition: true, Position: 11},
		{Kind: Received, Domain: m2, PosDomain: part + 1, Producer: 0, Seq: 1, HasPosition: true, Position: 11, Redelivered: true},
		{Kind: Received, Domain: m2, PosDomain: part + 1, Producer: 0, Seq: 2, HasPosition: true, Position: 12},
		// Without the shared position domain the same copy looks stored twice.
		{Kind: Received, Domain: m2, Producer: 0, Seq: 0, HasPosition: true, Position: 10},
	})
	n := c.Finalize(Options{Drained: true}).Counts
	if n.Duplicated != 2 || n.DuplicatedStored != 1 || n.Reordered != 0 {
		t.Errorf("duplicated %d (stored twice %d), reordered %d: want 2 duplicates, of which only the one without its partition stored twice, no reorder",
			n.Duplicated, n.DuplicatedStored, n.Reordered)
	}
}
