package scenarios

import (
	"errors"
	"math"
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

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "1m30s", "250ms", "0", "30", "-5s", "1.5h", "inf", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseDuration(in)
		if err != nil {
			return
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", in, d, d.String(), back, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"100", "1KiB", "4MiB", "1.5KiB", "1kB", "2GiB", "-1", "1e3", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := ParseSize(in)
		if err != nil {
			return
		}
		if v < 0 || v >= 1<<31 {
			t.Fatalf("%q -> %d out of range", in, v)
		}
		back, err := ParseSize(v.String())
		if err != nil || back != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", in, v, v.String(), back, err)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"5k/s", "1000/s", "1.5M/s", "max", "0", "-5/s", "1e308k/s", "5000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseRate(in)
		if err != nil {
			return
		}
		if f := float64(r); f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("%q -> %v: negative, NaN or infinite", in, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %v -> %q -> %v, %v", in, r, r.String(), back, err)
		}
	})
}
