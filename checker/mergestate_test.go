package checker

import (
	"bytes"
	"testing"
)

// TestMergeStateIsMerge: merging a saved state straight from its bytes
// (mqcheck merge) gives what Merge of the loaded checker gives: a message
// sent by one worker and received by the other is matched, one received
// by both in one subscription is one duplicate, one received by neither
// is lost.
func TestMergeStateIsMerge(t *testing.T) {
	build := func() (a, b *Checker) {
		a, b = New(NewNames("g")), New(NewNames("g"))
		for s := range uint64(100) {
			a.Apply([]Event{{Kind: Sent, Producer: 0, Seq: s, At: 1}, {Kind: Acked, Producer: 0, Seq: s, At: 2}})
			b.Apply([]Event{{Kind: Sent, Producer: 1, Seq: s, At: 1}, {Kind: Acked, Producer: 1, Seq: s, At: 2}})
		}
		for s := range uint64(100) {
			// Producer 0's messages go to b, producer 1's to a; producer
			// 0's 42 is received by no one: lost.
			if s != 42 {
				b.Apply([]Event{{Kind: Received, Producer: 0, Seq: s, At: 3}})
			}
			a.Apply([]Event{{Kind: Received, Producer: 1, Seq: s, At: 3}})
		}
		b.Apply([]Event{{Kind: Received, Producer: 1, Seq: 7, At: 4}}) // also received by a: a duplicate
		return a, b
	}
	save := func(c *Checker) *bytes.Buffer {
		var buf bytes.Buffer
		if err := c.Save(&buf); err != nil {
			t.Fatal(err)
		}
		return &buf
	}
	a, b := build()
	viaMerge, err := Load(save(a))
	if err != nil {
		t.Fatal(err)
	}
	if err := viaMerge.Merge(b); err != nil {
		t.Fatal(err)
	}
	a, b = build()
	viaState := New(nil)
	for _, c := range []*Checker{a, b} {
		if err := viaState.MergeState(save(c)); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Drained: true, Claims: []string{"at-least-once", "at-most-once"}}
	got, want := viaState.Finalize(o).Counts, viaMerge.Finalize(o).Counts
	if got != want {
		t.Errorf("MergeState\n got %+v\nMerge %+v", got, want)
	}
	exact := Counts{Sent: 200, Acked: 200, Received: 200, Unique: 199, Lost: 1, Duplicated: 1, DuplicatedPositionUnknown: 1}
	if got != exact {
		t.Errorf("counts\n got %+v\nwant %+v", got, exact)
	}
	if err := viaState.MergeState(bytes.NewReader([]byte("not a state"))); err == nil {
		t.Error("a damaged state merged without an error")
	}
}
