package scenarios

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParse: any input is either a scenario that validates and survives a
// Marshal/Parse round trip, or a *scenarios.Error (exit 2) — never a panic.
func FuzzParse(f *testing.F) {
	for _, b := range Builtins() {
		f.Add(b.YAML)
	}
	f.Add([]byte("broker: {kind: kafka, url: 'a:1', kafka: {acks: leader, idempotent: false}}\nfaults: [{kind: restart, at: 1s}]\n"))
	f.Add([]byte("broker: &b {kind: memory}\nfaults:\n  - &f {kind: restart, at: 1s}\n  - <<: *f\n    node: -1\n"))
	f.Add([]byte("duraton: 30\nbroker: memory\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *scenarios.Error: %v", err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid scenario: %v", err)
		}
		out, err := Marshal(s)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse(out, "fuzz.yaml")
		if err != nil {
			t.Fatalf("resolved YAML does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", back, s, out)
		}
	})
}
