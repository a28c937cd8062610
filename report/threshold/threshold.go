// Package threshold is the grammar of scenario thresholds ("end_to_end.p99 <
// 50ms", "lost == 0"): parsing, the metric catalogue, and deciding a value.
package threshold

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Threshold is one parsed expression: metric op limit.
type Threshold struct {
	Metric Metric
	Op     string // <, <=, >, >=, ==, !=
	// Limit in the metric's base unit: microseconds for durations,
	// messages per second for rates, messages for counts.
	Limit float64
}

// ops in the order the scanner tries them: two-character operators first.
var ops = []string{"<=", ">=", "==", "!=", "<", ">"}

// number is a plain decimal: strconv.ParseFloat alone would take "inf",
// "nan", "1e9" and "0x10", none of which a person writes as a limit.
var number = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// Parse reads "METRIC OP VALUE". VALUE takes the metric's units: a duration
// with a unit for latencies (50ms, 1.5s, 800us), a rate for throughput
// (5000, 5k, 5k/s, 1.5M/s), a whole number for counts (0, 10, 1k).
func Parse(expr string) (Threshold, error) {
	s := strings.TrimSpace(expr)
	if s == "" {
		return Threshold{}, fmt.Errorf("empty threshold (write e.g. end_to_end.p99 < 50ms)")
	}
	i, op := findOp(s)
	if i < 0 {
		if j := strings.IndexAny(s, "=<>!"); j >= 0 {
			return Threshold{}, fmt.Errorf("%q: unknown operator at %q (use <, <=, >, >=, == or !=)", expr, s[j:])
		}
		return Threshold{}, fmt.Errorf("%q has no comparison (write e.g. end_to_end.p99 < 50ms, lost == 0)", expr)
	}
	left, right := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+len(op):])
	if left == "" {
		return Threshold{}, fmt.Errorf("%q: no metric before %s", expr, op)
	}
	if right == "" {
		return Threshold{}, fmt.Errorf("%q: no value after %s", expr, op)
	}
	if strings.ContainsAny(right, "=<>!") {
		return Threshold{}, fmt.Errorf("%q: one comparison per threshold", expr)
	}
	m, err := Lookup(left)
	if err != nil {
		return Threshold{}, err
	}
	limit, err := parseValue(m, right)
	if err != nil {
		return Threshold{}, fmt.Errorf("%q: %w", expr, err)
	}
	return Threshold{Metric: m, Op: op, Limit: limit}, nil
}

// findOp returns the first operator in s. A lone "=" or "=<" is not one:
// it is reported as unknown rather than guessed at.
func findOp(s string) (int, string) {
	for i := 0; i < len(s); i++ {
		for _, op := range ops {
			if strings.HasPrefix(s[i:], op) {
				if rest := s[i+len(op):]; op != "==" && op != "!=" && strings.HasPrefix(rest, "=") {
					return -1, "" // "<==", ">=="
				}
				return i, op
			}
		}
		if s[i] == '=' || s[i] == '!' {
			return -1, "" // "=", "=<", "=>", "!"
		}
	}
	return -1, ""
}

func parseValue(m Metric, v string) (float64, error) {
	switch m.Kind {
	case Duration:
		return parseDuration(m, v)
	case Rate:
		return parseScaled(m, v, true)
	}
	return parseScaled(m, v, false)
}

func parseDuration(m Metric, v string) (float64, error) {
	if number.MatchString(v) {
		return 0, fmt.Errorf("%s is a latency: %s needs a unit (write %sms or %ss)", m.Short(), v, v, v)
	}
	if strings.HasPrefix(v, "-") {
		return 0, fmt.Errorf("a latency cannot be negative, got %s", v)
	}
	d, err := time.ParseDuration(v)
	if err != nil || !strings.ContainsAny(v[:1], "0123456789.") {
		return 0, fmt.Errorf("%s is a latency: %q is not a duration (write e.g. 50ms, 1.5s, 800us)", m.Short(), v)
	}
	return float64(d) / float64(time.Microsecond), nil
}

// parseScaled reads a number with an optional k/M/G multiplier and, for
// rates, an optional "/s".
func parseScaled(m Metric, v string, rate bool) (float64, error) {
	orig := v
	if rate {
		v = strings.TrimSuffix(v, "/s")
	} else if strings.HasSuffix(v, "/s") {
		return 0, fmt.Errorf("%s is a count, not a rate: write %s", m.Short(), strings.TrimSuffix(v, "/s"))
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		mult, v = 1e3, v[:len(v)-1]
	case strings.HasSuffix(v, "M"):
		mult, v = 1e6, v[:len(v)-1]
	case strings.HasSuffix(v, "G"):
		mult, v = 1e9, v[:len(v)-1]
	}
	example := "10, 1k"
	if rate {
		example = "5000, 5k/s, 1.5M/s"
	}
	if !number.MatchString(v) {
		if _, err := time.ParseDuration(orig); err == nil {
			return 0, fmt.Errorf("%s is a %s, not a latency: write e.g. %s", m.Short(), m.Kind, example)
		}
		return 0, fmt.Errorf("%s is a %s: %q is not one (write e.g. %s)", m.Short(), m.Kind, orig, example)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f*mult, 0) {
		return 0, fmt.Errorf("%q is out of range", orig)
	}
	f *= mult
	if !rate && f != math.Trunc(f) {
		return 0, fmt.Errorf("%s is a count: %s is not a whole number", m.Short(), orig)
	}
	return f, nil
}

// Holds reports whether value meets the threshold.
func (t Threshold) Holds(value float64) bool {
	switch t.Op {
	case "<":
		return value < t.Limit
	case "<=":
		return value <= t.Limit
	case ">":
		return value > t.Limit
	case ">=":
		return value >= t.Limit
	case "==":
		return value == t.Limit
	case "!=":
		return value != t.Limit
	}
	return false
}

// String writes the threshold back in the grammar, with its short metric
// name: Parse(t.String()) gives t again.
func (t Threshold) String() string {
	return t.Metric.Short() + " " + t.Op + " " + FormatValue(t.Metric.Kind, t.Limit)
}

// FormatValue writes a value of a metric kind the way a limit is written.
func FormatValue(k Kind, v float64) string {
	switch k {
	case Duration:
		return time.Duration(math.Round(v * float64(time.Microsecond))).String()
	case Rate:
		return strconv.FormatFloat(v, 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
