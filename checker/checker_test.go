package checker

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

var allClaims = []string{"at-most-once", "at-least-once", "exactly-once", "ordered"}

type verdicts map[string]string

func run(t *testing.T, subs []string, text string, drained bool) *Result {
	t.Helper()
	names := NewNames(subs...)
	c := New(names)
	c.Apply(history(t, names, text))
	return c.Finalize(Options{Drained: drained, Claims: allClaims})
}

func checkVerdicts(t *testing.T, r *Result, want verdicts) {
	t.Helper()
	for _, cl := range r.Claims {
		w, ok := want[cl.Name]
		if !ok {
			continue
		}
		if cl.Verdict != w {
			t.Errorf("claim %s: verdict %s (%s), want %s", cl.Name, cl.Verdict, cl.Summary, w)
		}
		if cl.Verdict == Fail && len(cl.Evidence) == 0 {
			t.Errorf("claim %s fails without evidence", cl.Name)
		}
		if (cl.Holds == nil) != (cl.Verdict == Unknown) || (cl.Holds != nil && *cl.Holds != (cl.Verdict == Pass)) {
			t.Errorf("claim %s: holds %v disagrees with verdict %s", cl.Name, cl.Holds, cl.Verdict)
		}
	}
}

func TestKnownAnswers(t *testing.T) {
	pass, fail, unknown := Pass, Fail, Unknown
	tests := []struct {
		name    string
		subs    []string
		history string
		drained bool
		want    Counts
		claims  verdicts
	}{
		{
			name:    "clean",
			history: "s 0:0-9; a 0:0-9; s 1:0-4; a 1:0-4; r s0 p0 0:0-9; r s0 p1 1:0-4",
			drained: true,
			want:    Counts{Sent: 15, Acked: 15, Received: 15, Unique: 15},
			claims:  verdicts{"at-most-once": pass, "at-least-once": pass, "exactly-once": pass, "ordered": pass},
		},
		{
			name:    "lost after ack",
			history: "s 0:0-9; a 0:0-9; r s0 p0 0:0-3,5-6,9",
			drained: true,
			want:    Counts{Sent: 10, Acked: 10, Received: 7, Unique: 7, Lost: 3},
			claims:  verdicts{"at-most-once": pass, "at-least-once": fail, "exactly-once": fail, "ordered": pass},
		},
		{
			name:    "missing but not drained is unaccounted, not lost",
			history: "s 0:0-9; a 0:0-9; r s0 p0 0:0-6",
			drained: false,
			want:    Counts{Sent: 10, Acked: 10, Received: 7, Unique: 7, Unaccounted: 3},
			claims:  verdicts{"at-least-once": unknown, "exactly-once": unknown, "at-most-once": pass},
		},
		{
			name:    "not drained, yet everything arrived",
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4",
			drained: false,
			want:    Counts{Sent: 5, Acked: 5, Received: 5, Unique: 5},
			claims:  verdicts{"at-least-once": pass, "exactly-once": pass},
		},
		{
			name:    "duplicates fail exactly-once but not at-least-once",
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4; r s0 p0 0:2; R s0 p0 0:3",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 7, Unique: 5, Duplicated: 2, DuplicatedRedelivered: 1},
			claims:  verdicts{"at-most-once": fail, "at-least-once": pass, "exactly-once": fail, "ordered": pass},
		},
		{
			name:    "a duplicate of an old message is not a reorder",
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4,1",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 6, Unique: 5, Duplicated: 1},
			claims:  verdicts{"ordered": pass},
		},
		{
			name:    "reordered within a domain",
			history: "s 0:0-5; a 0:0-5; r s0 p0 0:0,2,1,3,5,4",
			drained: true,
			want:    Counts{Sent: 6, Acked: 6, Received: 6, Unique: 6, Reordered: 2},
			claims:  verdicts{"ordered": fail, "exactly-once": pass},
		},
		{
			name:    "order is per domain and per producer",
			history: "s 0:0-3; a 0:0-3; s 1:0-1; a 1:0-1; r s0 p0 0:1,3; r s0 p1 0:0,2; r s0 p0 1:1; r s0 p0 1:0",
			drained: true,
			want:    Counts{Sent: 6, Acked: 6, Received: 6, Unique: 6, Reordered: 1},
			claims:  verdicts{"ordered": fail},
		},
		{
			name:    "a flagged redelivery behind later messages is not a reorder",
			history: "s 0:0-3; a 0:0-3; r s0 p0 0:0; j s0 p0 0:1; r s0 p0 0:2-3; R s0 p0 0:1",
			drained: true,
			want:    Counts{Sent: 4, Acked: 4, Received: 4, Unique: 4, Rejected: 1},
			claims:  verdicts{"ordered": pass, "exactly-once": pass},
		},
		{
			name:    "reset forgets order",
			history: "s 0:0-3; a 0:0-3; r s0 p0 0:2,3; x s0 p0; r s0 p0 0:0,1",
			drained: true,
			want:    Counts{Sent: 4, Acked: 4, Received: 4, Unique: 4},
			claims:  verdicts{"ordered": pass},
		},
		{
			name:    "indeterminate and delivered is recovered, not an error",
			history: "s 0:0-9; a 0:0-7; i 0:8-9; r s0 p0 0:0-9",
			drained: true,
			want:    Counts{Sent: 10, Acked: 8, Indeterminate: 2, Received: 10, Unique: 10, Recovered: 2},
			claims:  verdicts{"at-most-once": pass, "at-least-once": pass, "exactly-once": pass, "ordered": pass},
		},
		{
			name:    "indeterminate and never delivered is neither lost nor recovered",
			history: "s 0:0-9; a 0:0-7; i 0:8-9; r s0 p0 0:0-7",
			drained: true,
			want:    Counts{Sent: 10, Acked: 8, Indeterminate: 2, Received: 8, Unique: 8},
			claims:  verdicts{"at-least-once": pass, "exactly-once": pass},
		},
		{
			name:    "sent without outcome counts as indeterminate",
			history: "s 0:0-9; a 0:0-7; r s0 p0 0:0-8",
			drained: true,
			want:    Counts{Sent: 10, Acked: 8, Indeterminate: 2, Received: 9, Unique: 9, Recovered: 1},
			claims:  verdicts{"at-least-once": pass},
		},
		{
			name:    "failed and never delivered is fine",
			history: "s 0:0-4; a 0:0-3; f 0:4; r s0 p0 0:0-3",
			drained: true,
			want:    Counts{Sent: 5, Acked: 4, Failed: 1, Received: 4, Unique: 4},
			claims:  verdicts{"at-least-once": pass, "at-most-once": pass},
		},
		{
			name:    "failed yet delivered is a phantom",
			history: "s 0:0-4; a 0:0-3; f 0:4; r s0 p0 0:0-4",
			drained: true,
			want:    Counts{Sent: 5, Acked: 4, Failed: 1, Received: 5, Unique: 5, Phantom: 1},
			claims:  verdicts{"at-least-once": pass, "at-most-once": pass},
		},
		{
			name:    "unexpected fails every claim",
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4,7; r s0 p0 3:0",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 7, Unique: 5, Unexpected: 2},
			claims:  verdicts{"at-most-once": fail, "at-least-once": fail, "exactly-once": fail, "ordered": fail},
		},
		{
			name:    "corrupted fails every claim and the message is lost",
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-3; c s0 p0 0:4",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 4, Unique: 4, Lost: 1, Corrupted: 1},
			claims:  verdicts{"at-most-once": fail, "at-least-once": fail, "ordered": fail},
		},
		{
			name:    "foreign messages are counted, not errors",
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4; F s0 p0 9:1",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 5, Unique: 5, Foreign: 1},
			claims:  verdicts{"exactly-once": pass},
		},
		{
			name:    "every subscription must get every message",
			subs:    []string{"s0", "s1"},
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4; r s1 p0 0:0-2",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 8, Unique: 8, Lost: 2},
			claims:  verdicts{"at-least-once": fail},
		},
		{
			name:    "a silent subscription loses everything",
			subs:    []string{"s0", "s1"},
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 5, Unique: 5, Lost: 5},
			claims:  verdicts{"at-least-once": fail},
		},
		{
			name:    "the same message in two subscriptions is not a duplicate",
			subs:    []string{"s0", "s1"},
			history: "s 0:0-4; a 0:0-4; r s0 p0 0:0-4; r s1 p0 0:0-4",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 10, Unique: 10},
			claims:  verdicts{"exactly-once": pass},
		},
		{
			name:    "nothing sent is unknown, never pass",
			history: "",
			drained: true,
			claims:  verdicts{"at-most-once": unknown, "at-least-once": unknown, "exactly-once": unknown, "ordered": unknown},
		},
		{
			name:    "nothing acked is unknown for loss",
			history: "s 0:0-4; i 0:0-4",
			drained: true,
			want:    Counts{Sent: 5, Indeterminate: 5},
			claims:  verdicts{"at-least-once": unknown, "at-most-once": unknown, "ordered": unknown},
		},
		{
			name:    "dead-lettered is accounted for, never lost",
			history: "s 0:0-9; a 0:0-9; r s0 p0 0:0-2; j s0 p0 0:3; r s0 p0 0:4-6; j s0 p0 0:7; r s0 p0 0:8-9; d s0 dlq 0:3,7",
			drained: true,
			want:    Counts{Sent: 10, Acked: 10, Received: 8, Unique: 8, DeadLettered: 2, Rejected: 2},
			claims:  verdicts{"at-least-once": pass, "exactly-once": pass, "ordered": pass},
		},
		{
			name:    "rejected and requeued, then received: no duplicate",
			history: "s 0:0-3; a 0:0-3; r s0 p0 0:0; j s0 p0 0:1; R s0 p0 0:1; r s0 p0 0:2-3",
			drained: true,
			want:    Counts{Sent: 4, Acked: 4, Received: 4, Unique: 4, Rejected: 1},
			claims:  verdicts{"at-most-once": pass, "exactly-once": pass},
		},
		{
			name:    "dead-lettered but never sent is unexpected",
			history: "s 0:0-1; a 0:0-1; r s0 p0 0:0-1; d s0 dlq 0:5",
			drained: true,
			want:    Counts{Sent: 2, Acked: 2, Received: 2, Unique: 2, Unexpected: 1, DeadLettered: 1},
			claims:  verdicts{"at-least-once": fail},
		},
		{
			name:    "outcomes arriving after receipts change nothing",
			history: "s 0:0-4; r s0 p0 0:0-4; a 0:0-4",
			drained: true,
			want:    Counts{Sent: 5, Acked: 5, Received: 5, Unique: 5},
			claims:  verdicts{"exactly-once": pass},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subs := tt.subs
			if subs == nil {
				subs = []string{"s0"}
			}
			r := run(t, subs, tt.history, tt.drained)
			if r.Counts != tt.want {
				t.Errorf("counts\n got %+v\nwant %+v", r.Counts, tt.want)
			}
			checkVerdicts(t, r, tt.claims)
		})
	}
}

func TestEvidenceNamesWhatAndWhere(t *testing.T) {
	r := run(t, []string{"group-a"}, "s 2:0-99; a 2:0-99; r s0 topic/3 2:0-9,20-49,51-99", true)
	lost := r.Examples["lost"]
	if len(lost) != 2 {
		t.Fatalf("lost examples = %+v, want two ranges", lost)
	}
	if x := lost[0]; x.Producer != 2 || x.Seq != 10 || x.SeqEnd != 19 || x.Subscription != "group-a" || x.At == 0 || !x.Approximate {
		t.Errorf("first lost example = %+v, want producer 2 seqs 10-19 in group-a with an approximate time", x)
	}
	if x := lost[1]; x.Seq != 50 || x.SeqEnd != 50 {
		t.Errorf("second lost example = %+v, want seq 50", x)
	}
	r = run(t, []string{"group-a"}, "s 0:0-2; a 0:0-2; r s0 topic/3 0:1,0,2", true)
	ro := r.Examples["reordered"]
	if len(ro) != 1 || ro[0].Seq != 0 || ro[0].After != 1 || ro[0].Domain != "topic/3" || ro[0].Subscription != "group-a" {
		t.Errorf("reorder example = %+v, want seq 0 after 1 in topic/3 of group-a", ro)
	}
}

func TestExamplesAreBounded(t *testing.T) {
	names := NewNames("s0")
	c := New(names)
	var ev []Event
	for i := uint64(0); i < 10000; i++ {
		ev = append(ev, Event{Kind: Sent, Seq: i}, Event{Kind: Acked, Seq: i})
		if i%2 == 0 { // every other message lost: 5000 ranges
			ev = append(ev, Event{Kind: Received, Seq: i})
			ev = append(ev, Event{Kind: Received, Seq: i}) // and duplicated
		}
	}
	c.Apply(ev)
	r := c.Finalize(Options{Drained: true, Claims: allClaims})
	if r.Counts.Lost != 5000 || r.Counts.Duplicated != 5000 {
		t.Fatalf("counts %+v", r.Counts)
	}
	for k, xs := range r.Examples {
		if len(xs) > MaxExamples {
			t.Errorf("%s: %d examples, bound is %d", k, len(xs), MaxExamples)
		}
	}
	for _, cl := range r.Claims {
		if len(cl.Evidence) > MaxExamples {
			t.Errorf("%s: %d evidence rows", cl.Name, len(cl.Evidence))
		}
	}
}

func TestBeyondRangeIsUnexpected(t *testing.T) {
	names := NewNames("s0")
	c := New(names)
	c.Apply([]Event{{Kind: Sent}, {Kind: Acked}, {Kind: Received},
		{Kind: Received, Producer: MaxProducers}, {Kind: Received, Seq: 1 << 40}})
	r := c.Finalize(Options{Drained: true, Claims: allClaims})
	if r.Counts.Unexpected != 2 || r.Counts.Unique != 1 {
		t.Fatalf("counts %+v, want 2 unexpected", r.Counts)
	}
	checkVerdicts(t, r, verdicts{"at-least-once": Fail})
}

// TestSaveLoadMerge splits one random history between two checkers (as two
// workers would see it) and checks that saving, loading and merging gives
// the counts of one checker that saw everything.
func TestSaveLoadMerge(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		subs := []string{"g0", "g1"}
		whole := New(NewNames(subs...))
		a, b := New(NewNames(subs...)), New(NewNames(subs...))
		for p := uint32(0); p < 4; p++ {
			var ev []Event
			for s := uint64(0); s < 3000; s++ {
				ev = append(ev, Event{Kind: Sent, Producer: p, Seq: s, At: int64(s)})
				switch rng.IntN(20) {
				case 0:
					ev = append(ev, Event{Kind: Indeterminate, Producer: p, Seq: s})
				case 1:
					ev = append(ev, Event{Kind: Failed, Producer: p, Seq: s})
				default:
					ev = append(ev, Event{Kind: Acked, Producer: p, Seq: s})
				}
			}
			whole.Apply(ev)
			// Producers 0,1 belong to worker a and 2,3 to worker b.
			if p < 2 {
				a.Apply(ev)
			} else {
				b.Apply(ev)
			}
		}
		// Receipts land on either worker, some on both (duplicates across workers).
		for sub := uint16(0); sub < 2; sub++ {
			for p := uint32(0); p < 4; p++ {
				dom := "t/" + string(rune('0'+p%3))
				for s := uint64(0); s < 3000; s++ {
					if rng.IntN(50) == 0 {
						if rng.IntN(2) == 0 { // dead-lettered on one worker, else lost
							c := []*Checker{a, b}[rng.IntN(2)]
							for _, x := range []*Checker{c, whole} {
								x.Apply([]Event{{Kind: DeadLettered, Sub: sub, Producer: p, Seq: s,
									Domain: x.Names().Domain(sub, "dlq")}})
							}
						}
						continue
					}
					targets := []*Checker{a, b}[rng.IntN(2):][:1]
					if rng.IntN(40) == 0 {
						targets = []*Checker{a, b}
					}
					for _, c := range targets {
						e := Event{Kind: Received, Sub: sub, Producer: p, Seq: s, At: int64(s)}
						e.Domain = c.Names().Domain(sub, dom)
						c.Apply([]Event{e})
						e.Domain = whole.Names().Domain(sub, dom)
						whole.Apply([]Event{e})
					}
				}
			}
		}
		var buf bytes.Buffer
		if err := b.Save(&buf); err != nil {
			t.Fatal(err)
		}
		b2, err := Load(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Merge(b2); err != nil {
			t.Fatal(err)
		}
		opts := Options{Drained: true, Claims: allClaims}
		got, want := a.Finalize(opts).Counts, whole.Finalize(opts).Counts
		if got != want {
			t.Errorf("seed %d: merged counts\n %+v\nwant %+v", seed, got, want)
		}
		if want.Duplicated == 0 || want.Lost == 0 || want.Recovered == 0 || want.Phantom == 0 || want.DeadLettered == 0 {
			t.Errorf("seed %d: the history should exercise every set: %+v", seed, want)
		}
	}
}

func TestLoadRejectsGarbage(t *testing.T) {
	if _, err := Load(bytes.NewReader([]byte("not a state"))); err == nil {
		t.Fatal("Load accepted garbage")
	}
}

func TestFinalizeIsRepeatable(t *testing.T) {
	names := NewNames("s0")
	c := New(names)
	c.Apply(history(t, names, "s 0:0-9; a 0:0-9; r s0 d 0:0-4,6,5"))
	first := c.Finalize(Options{Drained: false, Claims: allClaims})
	second := c.Finalize(Options{Drained: false, Claims: allClaims})
	if first.Counts != second.Counts {
		t.Fatalf("finalize changed the state: %+v then %+v", first.Counts, second.Counts)
	}
	c.Apply(history(t, names, "r s0 d 0:7-9"))
	third := c.Finalize(Options{Drained: true, Claims: allClaims})
	if third.Counts.Lost != 0 || third.Counts.Unique != 10 || third.Counts.Reordered != 1 {
		t.Fatalf("after more receipts: %+v", third.Counts)
	}
}

func TestSentRanges(t *testing.T) {
	names := NewNames("s0")
	c := New(names)
	ev := []Event{{Kind: Sent, Seq: 0, Count: 600, At: 1}, {Kind: Sent, Seq: 600, Count: 1400, At: 2},
		{Kind: Sent, Producer: 1, Seq: math.MaxUint32 - 1, Count: 5}} // beyond the range: ignored
	for s := uint64(0); s < 2000; s++ {
		ev = append(ev, Event{Kind: Acked, Seq: s})
		if s != 1500 {
			ev = append(ev, Event{Kind: Received, Seq: s})
		}
	}
	c.Apply(ev)
	r := c.Finalize(Options{Drained: true, Claims: allClaims})
	if r.Counts.Sent != 2000 || r.Counts.Unique != 1999 || r.Counts.Lost != 1 || r.Counts.Unexpected != 0 {
		t.Fatalf("counts %+v", r.Counts)
	}
	if x := r.Examples["lost"][0]; x.Seq != 1500 || x.At != 2 || !x.Approximate {
		t.Errorf("lost example %+v: want seq 1500 stamped with its range's time", x)
	}
}

func TestApproxSentAtInterpolates(t *testing.T) {
	sentAt := []int64{1000, 2024, 0}
	for _, tc := range []struct {
		seq  uint64
		want int64
	}{{0, 1000}, {512, 1512}, {1024, 2024}, {1500, 2024}, {2048, 0}, {5000, 0}} {
		if got := approxSentAt(sentAt, tc.seq); got != tc.want {
			t.Errorf("seq %d: %d, want %d", tc.seq, got, tc.want)
		}
	}
}

// TestMergeDuplicateHasEvidence: a message each of two workers received once
// is a duplicate only once merged, and the verdict still shows it.
func TestMergeDuplicateHasEvidence(t *testing.T) {
	a, b := New(NewNames("g0")), New(NewNames("g0"))
	a.Apply(history(t, a.Names(), "s 0:0-2; a 0:0-2; r s0 t/0 0:0-2"))
	b.Apply(history(t, b.Names(), "r s0 t/0 0:1"))
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	r := a.Finalize(Options{Drained: true, Claims: allClaims})
	if r.Counts.Duplicated != 1 {
		t.Fatalf("counts %+v, want one duplicate", r.Counts)
	}
	checkVerdicts(t, r, verdicts{"exactly-once": Fail, "at-most-once": Fail, "at-least-once": Pass})
	if ev := r.Examples["duplicated"]; len(ev) != 1 || ev[0].Seq != 1 || ev[0].Subscription != "g0" {
		t.Errorf("duplicate evidence %+v, want producer 0 seq 1 in g0", ev)
	}
}
