package checker

import (
	"bytes"
	"strings"
	"testing"
)

// TestEffectivelyOnce: the processed layer read back beside received, and
// the claim judged on it whatever was delivered twice.
func TestEffectivelyOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history string
		drained bool
		want    ProcessedCounts
		verdict string
		// evidence: the first example's anomaly
		evidence string
	}{
		{"delivered twice, processed once", "s 0:0-9; a 0:0-9; r s0 d 0:0-9; R s0 d 0:3-5; e s0 - 0:0-9", true,
			ProcessedCounts{Effects: 10, Unique: 10}, Pass, ""},
		{"processed twice", "s 0:0-9; a 0:0-9; r s0 d 0:0-9; R s0 d 0:3-5; e s0 - 0:0-9; e s0 - 0:3-5", true,
			ProcessedCounts{Effects: 13, Unique: 10, Twice: 3}, Fail, "processed_twice"},
		{"processed never", "s 0:0-9; a 0:0-9; r s0 d 0:0-9; R s0 d 0:4; e s0 - 0:0-3,5-9", true,
			ProcessedCounts{Effects: 9, Unique: 9, Never: 1}, Fail, "processed_never"},
		{"dead-lettered is accounted for", "s 0:0-9; a 0:0-9; r s0 d 0:0-8; d s0 dlq 0:9; e s0 - 0:0-8", true,
			ProcessedCounts{Effects: 9, Unique: 9}, Pass, ""},
		{"not drained", "s 0:0-9; a 0:0-9; r s0 d 0:0-8; e s0 - 0:0-8", false,
			ProcessedCounts{Effects: 9, Unique: 9, Unaccounted: 1}, Unknown, "processed_unaccounted"},
		{"two subscriptions, each its own effects", "s 0:0-1; a 0:0-1; r s0 d 0:0-1; r s1 d 0:0-1; e s0 - 0:0-1; e s1 - 0:0", true,
			ProcessedCounts{Effects: 3, Unique: 3, Never: 1}, Fail, "processed_never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := NewNames("s0")
			if strings.Contains(tc.history, "s1") {
				names = NewNames("s0", "s1")
			}
			c := New(names)
			c.Apply(history(t, names, tc.history))
			r := c.Finalize(Options{Drained: tc.drained, Claims: []string{ClaimEffectivelyOnce}, Processed: true})
			if r.Counts.Processed == nil || *r.Counts.Processed != tc.want {
				t.Fatalf("processed %+v, want %+v", r.Counts.Processed, tc.want)
			}
			cl := r.Claims[0]
			if cl.Verdict != tc.verdict {
				t.Fatalf("verdict %s (%s), want %s", cl.Verdict, cl.Summary, tc.verdict)
			}
			switch {
			case tc.evidence == "" && len(cl.Evidence) > 0:
				t.Fatalf("evidence %+v, want none", cl.Evidence)
			case tc.evidence != "" && (len(cl.Evidence) == 0 || cl.Evidence[0].Anomaly != tc.evidence):
				t.Fatalf("evidence %+v, want %s first", cl.Evidence, tc.evidence)
			}
		})
	}
}

// TestEffectivelyOnceUnread: without effects read back the claim is
// unknown, never pass, and says why.
func TestEffectivelyOnceUnread(t *testing.T) {
	names := NewNames("s0")
	c := New(names)
	c.Apply(history(t, names, "s 0:0-9; a 0:0-9; r s0 d 0:0-9"))
	r := c.Finalize(Options{Drained: true, Claims: []string{ClaimEffectivelyOnce}, ProcessedWhy: "the store was unreachable"})
	if cl := r.Claims[0]; cl.Verdict != Unknown || cl.Summary != "not decided: the store was unreachable" {
		t.Fatalf("%+v", cl)
	}
	if r.Counts.Processed != nil {
		t.Fatalf("processed %+v without a read-back", r.Counts.Processed)
	}
}

// TestProcessedSavedAndMerged: the processed layer survives Save and Load,
// and a message two merged runs each processed once was processed twice.
func TestProcessedSavedAndMerged(t *testing.T) {
	build := func(h string) *Checker {
		names := NewNames("s0")
		c := New(names)
		c.Apply(history(t, names, h))
		return c
	}
	a := build("s 0:0-9; a 0:0-9; r s0 d 0:0-9; e s0 - 0:0-5; e s0 - 0:2")
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Drained: true, Processed: true}
	if got, want := *back.Finalize(o).Counts.Processed, *a.Finalize(o).Counts.Processed; got != want {
		t.Fatalf("after Save and Load %+v, want %+v", got, want)
	}
	if err := back.Merge(build("s 0:0-9; a 0:0-9; e s0 - 0:5-9")); err != nil {
		t.Fatal(err)
	}
	want := ProcessedCounts{Effects: 12, Unique: 10, Twice: 2}
	if got := *back.Finalize(o).Counts.Processed; got != want {
		t.Fatalf("merged %+v, want %+v (seq 2 twice in one run, seq 5 once in each)", got, want)
	}
}
