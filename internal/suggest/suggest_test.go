package suggest

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"duration", "drain_timeout", "message_size", "at-least-once"}
	for _, tc := range []struct {
		word, want string
		ok         bool
	}{
		{"duraton", "duration", true},
		{"drain", "drain_timeout", true},
		{"MESSAGE-SIZE", "message_size", true},
		{"at_least_once", "at-least-once", true},
		{"colour", "", false},
	} {
		got, ok := Closest(tc.word, known)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tc.word, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Closest("x", nil); ok {
		t.Error("a match among no words")
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"µs", "us", 1}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
