// Package units is the text syntax of the quantities scenario files write: durations
// with a unit ("30s"), sizes ("1KiB") and rates ("5k/s"), shared by scenarios and drivers.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written with a unit in scenarios ("30s",
// "1m30s", "250ms"). A bare number is rejected: "30" could mean anything.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration parses a duration with a unit.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	// Only a plain decimal number lacks just a unit; "inf" or "1e3" parse
	// as floats but adding "s" would not make them durations.
	if isPlainNumber(s) {
		return 0, fmt.Errorf("duration %q has no unit (write e.g. %ss or %sms)", s, s, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (write e.g. 30s, 1m30s, 250ms)", s)
	}
	return Duration(d), nil
}

// isPlainNumber reports a decimal number such as "30", "-1.5" or "+.5".
func isPlainNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.' && !strings.ContainsRune(s[i+1:], '.'):
		default:
			return false
		}
	}
	return digits > 0
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Size is a byte count written with an optional unit ("100", "1KiB", "4kB").
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"kB", 1000}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses a size in bytes with an optional unit.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid size %q (write e.g. 100, 1KiB, 4MiB)", s)
	}
	v := f * float64(mult)
	switch {
	case v < 0:
		return 0, fmt.Errorf("size %q is negative", s)
	case v >= 1<<31:
		return 0, fmt.Errorf("size %q out of range (must be below 2GiB)", s)
	case v != math.Trunc(v):
		// Truncating silently would make "1.5" and "1" the same size.
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return Size(v), nil
}

func (s Size) String() string {
	switch {
	case s >= 1<<20 && s%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", s>>20)
	case s >= 1<<10 && s%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", s>>10)
	}
	return strconv.FormatInt(int64(s), 10)
}

func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Rate is messages per second ("5k/s", "1000/s", "1.5M/s"); 0 ("max") means
// closed loop, as fast as the broker confirms.
type Rate float64

// ParseRate parses a rate.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "max" || s == "0" {
		return 0, nil
	}
	num := strings.TrimSuffix(strings.TrimSuffix(s, "/s"), " ")
	mult := 1.0
	switch {
	case strings.HasSuffix(num, "k"):
		num, mult = strings.TrimSuffix(num, "k"), 1e3
	case strings.HasSuffix(num, "M"):
		num, mult = strings.TrimSuffix(num, "M"), 1e6
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid rate %q (write e.g. 5k/s, 1000/s, or max)", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("rate %q is negative", s)
	}
	// The multiplier can overflow what ParseFloat accepted ("1e308k"), and
	// an infinite rate would neither pace nor marshal.
	r := f * mult
	if math.IsInf(r, 0) {
		return 0, fmt.Errorf("rate %q out of range", s)
	}
	if r == 0 {
		return 0, nil // also turns -0 into 0
	}
	return Rate(r), nil
}

func (r Rate) String() string {
	if r == 0 {
		return "max"
	}
	return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"
}

func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
