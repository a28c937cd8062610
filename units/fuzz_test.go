package units

import (
	"math"
	"testing"
)

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
