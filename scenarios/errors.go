package scenarios

import (
	"fmt"
	suggestpkg "github.com/mqcheck/mqcheck/internal/suggest"
	"sort"
	"strings"
)

// Error is one problem with a scenario: the CLI finds it with errors.As and
// exits 2 (nothing was run). Source and Line point at where the value came
// from when that is known: a file and line, "--set", or nothing for a
// scenario built in Go.
type Error struct {
	// Source names the file ("scenario.yaml", "builtin/quickstart.yaml") or
	// "--set"; empty when the scenario did not come from text.
	Source string
	// Line and Column are 1-based positions in Source; 0 when unknown.
	Line, Column int
	// Field is the dotted YAML path of the value ("producers.rate",
	// "faults.0.at"), the same spelling --set takes; empty for problems of
	// the whole file (syntax errors).
	Field string
	// Msg says what is wrong and, where it can, what would be right.
	Msg string
	// Err is the underlying cause, if any (a read error, a YAML error).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	switch {
	case e.Msg != "":
		b.WriteString(e.Msg)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("invalid")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one scenario, so a user fixes them in one
// go rather than one run at a time. errors.As finds both the list and, through
// Unwrap, its first *Error.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns the list as an error, or nil when it is empty: a nil Errors
// stored in an error interface would not compare equal to nil.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// sortByLine keeps problems in file order; problems without a line keep
// their relative order after the located ones.
func (es Errors) sortByLine() {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		if li != lj {
			return li < lj
		}
		return es[i].Column < es[j].Column
	})
}

// joinPath appends one segment to a dotted path.
func joinPath(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "." + seg
}

// suggest is the tail of an "unknown field" message: `, did you mean "x"?`
// for the known word closest to word, or the list of known words when none
// is close enough to be a typo.
func suggest(word string, known []string) string {
	if best, ok := closest(word, known); ok {
		return fmt.Sprintf(", did you mean %q?", best)
	}
	if len(known) == 0 {
		return ""
	}
	return " (known: " + strings.Join(known, ", ") + ")"
}

// closest finds the known word nearest to word (see suggestpkg.Closest).
func closest(word string, known []string) (string, bool) { return suggestpkg.Closest(word, known) }
