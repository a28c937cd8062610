package scenarios

import "github.com/mqcheck/mqcheck/units"

// The quantities a scenario writes; package units owns their syntax, so
// drivers' configurations use the same types without importing scenarios.
type (
	// Duration is a time.Duration written with a unit ("30s", "250ms").
	Duration = units.Duration
	// Size is a byte count with an optional unit ("100", "1KiB").
	Size = units.Size
	// Rate is messages per second ("5k/s"); 0 ("max") is closed loop.
	Rate = units.Rate
)

// ParseDuration parses a duration with a unit.
func ParseDuration(s string) (Duration, error) { return units.ParseDuration(s) }

// ParseSize parses a size in bytes with an optional unit.
func ParseSize(s string) (Size, error) { return units.ParseSize(s) }

// ParseRate parses a rate.
func ParseRate(s string) (Rate, error) { return units.ParseRate(s) }
