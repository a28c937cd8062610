package scenarios

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/kinds"
	"github.com/mqcheck/mqcheck/internal/fakekind"
)

// withFake is the build's kinds plus one a test made up: everything the
// loader knows about a kind comes from the list, so the fake one loads,
// validates, takes --set and appears in the schema like a real one.
var withFake = Loader{Kinds: kinds.Default().With(fakekind.Kind())}

const fakeScenario = `name: fake-run
broker:
  kind: fake
  fake:
    lanes: 3
    token: hunter22
producers: {count: 2, rate: 1k/s}
`

func TestFakeKindLoads(t *testing.T) {
	s, err := withFake.Parse([]byte(fakeScenario), "fake.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok := s.Broker.Config.(*fakekind.Config)
	if !ok {
		t.Fatalf("broker.fake decoded into %T", s.Broker.Config)
	}
	want := fakekind.Config{Lanes: 3, Order: "lanes", Token: "hunter22"}
	if *cfg != want || s.Broker.Target != TargetEmbedded {
		t.Errorf("section %+v target %q, want %+v (defaults applied) and embedded", *cfg, s.Broker.Target, want)
	}
	// The resolved scenario round-trips, with the secret masked on the way out.
	y, err := withFake.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := withFake.Parse(y, "fake.yaml")
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %v\n%s", err, y)
	}
	if r, _ := withFake.Marshal(s.Redacted()); strings.Contains(string(r), "hunter22") {
		t.Errorf("redacted scenario shows the token:\n%s", r)
	}
	// The build's own list does not know the kind.
	if _, err := Parse([]byte(fakeScenario), "fake.yaml"); err == nil || !strings.Contains(err.Error(), "broker.fake: unknown field") {
		t.Errorf("default kinds: %v, want broker.fake unknown", err)
	}
	if _, err := Parse([]byte("broker: {kind: fake}\n"), "fake.yaml"); err == nil || !strings.Contains(err.Error(), `unknown broker kind "fake"`) {
		t.Errorf("default kinds: %v, want an unknown kind", err)
	}
}

func TestFakeKindProblemsHaveLines(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, field string
		line              int
		says              string
	}{
		{"unknown field", "broker:\n  kind: fake\n  fake:\n    lane: 3\n", "broker.fake.lane", 4, `did you mean "lanes"?`},
		{"ill-typed field", "broker:\n  kind: fake\n  fake:\n    delay: 5\n", "broker.fake.delay", 4, "has no unit"},
		{"driver's own check", "broker:\n  kind: fake\n  fake:\n    order: queue\n    lanes: 4\n", "broker.fake.lanes", 5, "one lane"},
		{"unknown value", "broker:\n  kind: fake\n  fake: {order: stack}\n", "broker.fake.order", 3, `unknown order "stack"`},
		{"checked against the run", "broker:\n  kind: fake\n  fake: {lanes: 1}\nconsumers:\n  subscriptions: 2\n",
			"consumers.subscriptions", 5, "one subscription per lane"},
		{"section of another kind", "broker:\n  kind: memory\n  fake: {lanes: 1}\n", "broker.fake", 3, "broker.kind is memory"},
		{"target the kind lacks", "broker: {kind: fake, target: exec}\n", "broker.target", 1, "fake cannot use target exec; use embedded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := withFake.Parse([]byte(tc.yaml), "f.yaml")
			es := asErrors(err)
			for _, e := range es {
				if e.Field == tc.field && e.Line == tc.line && strings.Contains(e.Msg, tc.says) {
					return
				}
			}
			t.Errorf("problems %v: want one on %s at line %d saying %q", err, tc.field, tc.line, tc.says)
		})
	}
}

func TestFakeKindSet(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fake.yaml")
	if err := os.WriteFile(file, []byte(fakeScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := withFake.Resolve(file, []string{"broker.fake.lanes=5", "broker.fake.delay=2ms"})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Broker.Config.(*fakekind.Config); c.Lanes != 5 || c.Delay.D() != 2*time.Millisecond {
		t.Errorf("after --set: %+v", c)
	}
	_, err = withFake.Resolve(file, []string{"broker.fake.lanes=65"})
	if es := asErrors(err); len(es) != 1 || es[0].Source != "--set broker.fake.lanes=65" || es[0].Field != "broker.fake.lanes" {
		t.Errorf("bad --set: %v", err)
	}
	// Switching kinds with --set takes the other kind's section.
	s, err = withFake.Resolve(file, []string{"broker.kind=memory", "broker.fake="})
	if err != nil || s.Broker.Kind != "memory" {
		t.Errorf("switch to memory: %v", err)
	}
}

func TestFakeKindSchema(t *testing.T) {
	schema, err := withFake.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Defs map[string]struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &root); err != nil {
		t.Fatal(err)
	}
	b, f := root.Defs["Broker"], root.Defs["Fake"]
	if b.Properties["fake"]["$ref"] != "#/$defs/Fake" {
		t.Errorf("broker.fake is %v", b.Properties["fake"])
	}
	if kinds, _ := b.Properties["kind"]["enum"].([]any); len(kinds) == 0 || kinds[len(kinds)-1] != "fake" {
		t.Errorf("broker.kind enum %v", b.Properties["kind"]["enum"])
	}
	if f.Properties["lanes"]["default"] != float64(2) || f.Properties["order"]["enum"] == nil ||
		f.Properties["delay"]["title"] != "duration" || !strings.Contains(f.Properties["token"]["description"].(string), "***") {
		t.Errorf("fake definition %v", f.Properties)
	}
	// The README field table is rendered from the schema: the kind's rows
	// come with it.
	table, err := renderFields(schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| `broker.fake` | mapping |", "| `broker.fake.lanes` | integer | `2` |", "| `broker.fake.order` | `lanes`, `queue` | `lanes` |"} {
		if !strings.Contains(table, row) {
			t.Errorf("field table lacks %q:\n%s", row, table)
		}
	}
	// With the sources at hand the descriptions come from the fake's doc
	// comments, as the drivers' do.
	described, err := withFake.GenerateJSONSchema(".")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(described), "lanes are the ordering domains messages spread over") {
		t.Errorf("no description from the fake kind's comments")
	}
}
