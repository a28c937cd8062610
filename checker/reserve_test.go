package checker

import (
	"bytes"
	"reflect"
	"testing"
)

// TestReserveChangesNothing: a checker whose producer states were
// reserved (some of them never used, one producer beyond the reservation)
// finds what one without a reservation finds, and saves the same state,
// with two subscriptions, one of which receives from two producers only.
func TestReserveChangesNothing(t *testing.T) {
	var events []Event
	for _, p := range []uint32{3, 5, 12} {
		for seq := uint64(0); seq < 50; seq++ {
			if p == 5 && seq == 7 {
				continue // lost
			}
			events = append(events, Event{Kind: Sent, Producer: p, Seq: seq, At: int64(seq)},
				Event{Kind: Acked, Producer: p, Seq: seq, At: int64(seq) + 1})
			if p != 5 || seq != 8 {
				events = append(events, Event{Kind: Received, Producer: p, Seq: seq, At: int64(seq) + 2})
			}
			if p != 3 {
				events = append(events, Event{Kind: Received, Sub: 1, Producer: p, Seq: seq, At: int64(seq) + 2})
			}
			if p == 3 && seq == 20 {
				events = append(events, Event{Kind: Received, Producer: p, Seq: seq, At: int64(seq) + 3}) // duplicate
			}
		}
	}
	check := func(reserve bool) (*Result, []byte) {
		c := New(NewNames("s0", "s1"))
		if reserve {
			c.Reserve(2, 10)
		}
		c.Apply(events)
		var saved bytes.Buffer
		if err := c.Save(&saved); err != nil {
			t.Fatal(err)
		}
		return c.Finalize(Options{Drained: true, Claims: allClaims}), saved.Bytes()
	}
	plain, plainSaved := check(false)
	reserved, reservedSaved := check(true)
	if plain.Counts.Lost != 1+50 || plain.Counts.Duplicated != 1 {
		t.Fatalf("counts %+v: want 51 lost (one in each subscription, producer 3's 50 in s1) and 1 duplicated", plain.Counts)
	}
	if !reflect.DeepEqual(plain.Counts, reserved.Counts) || !reflect.DeepEqual(plain.Claims, reserved.Claims) {
		t.Errorf("reserved: counts %+v, claims %+v; want %+v, %+v", reserved.Counts, reserved.Claims, plain.Counts, plain.Claims)
	}
	if !bytes.Equal(plainSaved, reservedSaved) {
		t.Errorf("reserved: saved state differs (%d bytes, want %d)", len(reservedSaved), len(plainSaved))
	}
}

// TestReserveAfterHigherProducers: a reservation made after the checker
// saw producers beyond it (a split run's consumers read the other workers'
// producers before this worker prepared its own) keeps what it saw and
// serves the reserved producers as well.
func TestReserveAfterHigherProducers(t *testing.T) {
	c := New(NewNames("s0"))
	c.Apply([]Event{{Kind: Sent, Producer: 40, Seq: 0}, {Kind: Acked, Producer: 40, Seq: 0}, {Kind: Received, Producer: 40, Seq: 0}})
	c.Reserve(0, 10)
	c.Apply([]Event{{Kind: Sent, Producer: 3, Seq: 0}, {Kind: Acked, Producer: 3, Seq: 0}, {Kind: Received, Producer: 3, Seq: 0},
		{Kind: Sent, Producer: 40, Seq: 1}, {Kind: Acked, Producer: 40, Seq: 1}, {Kind: Received, Producer: 40, Seq: 1}})
	r := c.Finalize(Options{Drained: true, Claims: allClaims})
	if r.Counts.Sent != 3 || r.Counts.Unique != 3 || r.Counts.Lost != 0 {
		t.Errorf("counts %+v: want 3 sent, 3 received once, none lost", r.Counts)
	}
}
