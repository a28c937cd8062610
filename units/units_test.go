package units

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want Duration
		err  string
	}{
		{"30s", Duration(30 * time.Second), ""},
		{" 1m30s ", Duration(90 * time.Second), ""},
		{"250ms", Duration(250 * time.Millisecond), ""},
		{"0", 0, ""},
		{"30", 0, "has no unit"},
		{"1.5", 0, "has no unit"},
		{"inf", 0, "invalid duration"},
		{"1e3", 0, "invalid duration"},
		{"", 0, "empty"},
		{"thirty seconds", 0, "invalid duration"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if !matches(err, tt.err) || err == nil && got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string
	}{
		{"100", 100, ""},
		{"100B", 100, ""},
		{"1KiB", 1024, ""},
		{"1.5KiB", 1536, ""},
		{"4MiB", 4 << 20, ""},
		{"1kB", 1000, ""},
		{"2 MB", 2e6, ""},
		{"1.5", 0, "whole number"},
		{"0.1KiB", 0, "whole number"},
		{"-1KiB", 0, "negative"},
		{"2GiB", 0, "out of range"},
		{"NaN", 0, "invalid size"},
		{"big", 0, "invalid size"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if !matches(err, tt.err) || err == nil && got != tt.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
		err  string
	}{
		{"5k/s", 5000, ""},
		{"1000/s", 1000, ""},
		{"1000", 1000, ""},
		{"1.5M/s", 1.5e6, ""},
		{"max", 0, ""},
		{"0", 0, ""},
		{"-0/s", 0, ""},
		{"-5/s", 0, "negative"},
		{"1e308k/s", 0, "out of range"},
		{"fast", 0, "invalid rate"},
		{"nan/s", 0, "invalid rate"},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if !matches(err, tt.err) || err == nil && got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestUnitStrings(t *testing.T) {
	for _, tt := range []struct {
		v    interface{ String() string }
		want string
	}{
		{Duration(90 * time.Second), "1m30s"},
		{Size(1024), "1KiB"},
		{Size(3 << 20), "3MiB"},
		{Size(1500), "1500"},
		{Rate(0), "max"},
		{Rate(2000), "2000/s"},
		{Rate(0.5), "0.5/s"},
	} {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func matches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
