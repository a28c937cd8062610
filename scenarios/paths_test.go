package scenarios

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFieldPathsFollowSchema: the paths shell completion offers for --set
// are the fields of the JSON Schema (the README's table), a list of
// mappings by its first entry, and --set takes each of them.
func TestFieldPathsFollowSchema(t *testing.T) {
	table, err := renderFields(JSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(table, -1) {
		want = append(want, strings.ReplaceAll(m[1], "[].", ".0."))
	}
	got := Loader{}.FieldPaths()
	if !slices.Equal(got, want) {
		t.Errorf("field paths:\n%v\nschema:\n%v", got, want)
	}
	for _, p := range got {
		s := mustParse(t, "broker: {kind: memory}\nfaults: [{kind: consumer-crash}]\n")
		if _, err := (Loader{}).set(s, p, "x"); err != nil && strings.Contains(err.Error(), "unknown field") {
			t.Errorf("--set %s: %v", p, err)
		}
	}
}
