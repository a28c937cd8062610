package checker

import (
	"reflect"
	"testing"
)

// TestMissingByTime: lost messages are counted by the bucket their
// interpolated send time falls in, per subscription; received ones and
// unacked ones are not counted.
func TestMissingByTime(t *testing.T) {
	c := New(NewNames("sub-0", "sub-1"))
	const sec = int64(1e9)
	origin := int64(1000) * sec
	// Producer 0 sends 4096 messages over 4 s: every 1024th is stamped at
	// the start of its second.
	var evs []Event
	for i := uint64(0); i < 4; i++ {
		evs = append(evs, Event{Kind: Sent, Producer: 0, Seq: i << 10, At: origin + int64(i)*sec})
	}
	evs = append(evs, Event{Kind: Sent, Producer: 0, Seq: 0, Count: 4096, At: origin + 4*sec})
	for s := uint64(0); s < 4096; s++ {
		if s != 4000 { // 4000 never acked: not lost whatever happens
			evs = append(evs, Event{Kind: Acked, Producer: 0, Seq: s})
		}
		lostIn0 := s >= 1500 && s < 1510 // second 1 (seq 1024..2047), both subscriptions
		lostIn1 := s >= 3100 && s < 3105 // second 3, sub-1 only
		if !lostIn0 {
			evs = append(evs, Event{Kind: Received, Producer: 0, Seq: s, Sub: 0})
		}
		if !lostIn0 && !lostIn1 {
			evs = append(evs, Event{Kind: Received, Producer: 0, Seq: s, Sub: 1})
		}
	}
	c.Apply(evs)
	got, undated := c.MissingByTime(Sent, origin, sec, 5)
	if want := []uint64{0, 20, 0, 5, 0}; !reflect.DeepEqual(got, want) || undated != 0 {
		t.Errorf("buckets %v (undated %d), want %v", got, undated, want)
	}
	// Finer buckets split by the interpolated time: 1500 is 476/1024 of
	// the way through second 1.
	got, _ = c.MissingByTime(Sent, origin, sec/10, 50)
	if got[14] != 20 {
		t.Errorf("100ms buckets: %v, want 20 in bucket 14 (1.46s)", got)
	}
	// Out-of-range times land in the first and last buckets.
	got, _ = c.MissingByTime(Sent, origin+2*sec, sec, 1)
	if got[0] != 25 {
		t.Errorf("one bucket: %v, want all 25", got)
	}
	if b, _ := c.MissingByTime(Sent, origin, 0, 3); b != nil {
		t.Errorf("zero width: %v", b)
	}
}
