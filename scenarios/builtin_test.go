package scenarios

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestBuiltinsLoadAndValidate(t *testing.T) {
	bs := Builtins()
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
		t.Run(b.Name, func(t *testing.T) {
			if b.Description == "" || strings.Contains(b.Description, "\n") {
				t.Errorf("description must be one line: %q", b.Description)
			}
			s, err := Load(b.Name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != b.Name {
				t.Errorf("name %q differs from the file name %q", s.Name, b.Name)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if !slices.IsSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	// Other packages (make run, docs, tests) name these.
	for _, want := range []string{"quickstart", "memory-faults", "memory-max"} {
		if !slices.Contains(names, want) {
			t.Errorf("built-in %q missing from %v", want, names)
		}
	}
}

func TestBuiltinContents(t *testing.T) {
	load := func(name string) *Scenario {
		t.Helper()
		s, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := load("memory-faults"); !strings.Contains(s.Description, "FAIL") ||
		!reflect.DeepEqual(s.Claims, []string{ClaimExactlyOnce, ClaimOrdered}) {
		t.Errorf("memory-faults must be a failing exactly-once + ordered demo: %+v", s)
	} else {
		// Every fault knob is set, so the demo shows every anomaly.
		f := reflect.ValueOf(memoryOf(s).Faults)
		for i := range f.NumField() {
			if f.Field(i).IsZero() {
				t.Errorf("memory-faults leaves %s at 0", f.Type().Field(i).Name)
			}
		}
	}
	if s := load("memory-max"); s.Producers.Rate != 0 || s.Duration != Duration(5*time.Second) {
		t.Errorf("memory-max must be closed loop for 5s: %+v", s)
	}
}

// TestMarshalGolden pins the resolved scenario.yaml of every built-in.
// Regenerate with: go test ./scenarios -update
func TestMarshalGolden(t *testing.T) {
	for _, b := range Builtins() {
		t.Run(b.Name, func(t *testing.T) {
			s, err := Parse(b.YAML, builtinSource(b.Name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", b.Name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./scenarios -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal differs from %s (run go test ./scenarios -update if intended):\n got:\n%s\nwant:\n%s", golden, got, want)
			}
			back, err := Parse(got, "scenario.yaml")
			if err != nil {
				t.Fatalf("resolved YAML does not parse: %v", err)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, s)
			}
		})
	}
}
