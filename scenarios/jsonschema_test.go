package scenarios

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestSchemaUpToDate keeps the committed scenario.schema.json in step with
// the Go types: a new field, enum value or default shows up as a diff.
// Regenerate with: go test ./scenarios -run Schema -update
func TestSchemaUpToDate(t *testing.T) {
	got, err := GenerateJSONSchema(".")
	if err != nil {
		t.Fatal(err)
	}
	const file = "scenario.schema.json"
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale (run go test ./scenarios -run Schema -update)", file)
	}
	if !bytes.Equal(JSONSchema(), want) {
		t.Errorf("embedded schema differs from %s: rebuild", file)
	}
}

// TestSchemaShape checks what editors rely on: strict objects, the known
// values, the text types as patterns, defaults, and secrets marked.
func TestSchemaShape(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(JSONSchema(), &s); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var cur any = s
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q", path, p)
			}
			cur = m[p]
		}
		return cur
	}
	if get("additionalProperties") != false {
		t.Error("root allows unknown fields; scenario files are strict")
	}
	if get("$defs", "Broker", "additionalProperties") != false {
		t.Error("broker allows unknown fields")
	}
	kinds, _ := get("$defs", "Broker", "properties", "kind", "enum").([]any)
	if len(kinds) != len(BrokerKinds()) {
		t.Errorf("broker.kind enum %v, want %v", kinds, BrokerKinds())
	}
	if get("properties", "duration", "title") != "duration" || get("$defs", "Producers", "properties", "rate", "title") != "rate" ||
		get("$defs", "Producers", "properties", "message_size", "title") != "size" {
		t.Error("durations, rates and sizes must be titled for the README reference")
	}
	if _, ok := get("properties", "duration", "anyOf").([]any); !ok {
		t.Errorf("duration is %v, want a pattern or 0", get("properties", "duration"))
	}
	if get("properties", "duration", "default") != "10s" {
		t.Errorf("duration default %v, want 10s", get("properties", "duration", "default"))
	}
	if get("$defs", "Kafka", "properties", "acks", "default") != "all" {
		t.Errorf("kafka.acks default %v", get("$defs", "Kafka", "properties", "acks", "default"))
	}
	desc, _ := get("$defs", "KafkaSASL", "properties", "password", "description").(string)
	if !regexp.MustCompile("Secret: shown as `\\*\\*\\*`").MatchString(desc) {
		t.Errorf("password description does not say it is secret: %q", desc)
	}
	if d, _ := get("properties", "drain_timeout", "description").(string); !regexp.MustCompile(`^drain_timeout bounds`).MatchString(d) {
		t.Errorf("descriptions should use YAML names: %q", d)
	}
}

// TestSchemaPatternsMatchParsers: the schema accepts what the parsers accept
// (non-negative values; negatives are Validate's business) and, but for the
// loose cases listed, nothing else.
func TestSchemaPatternsMatchParsers(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		parse   func(string) error
		samples []string
		loose   []string // accepted by the schema, rejected by the parser
	}{
		{"duration", durationPattern, func(s string) error { _, err := ParseDuration(s); return err },
			[]string{"0", "30s", "1m30s", "250ms", "1.5h", ".5s", "10us", "3µs", "30", "1.5", "", "s", "1d", "1 s", "inf", "1e3s", "0s"}, nil},
		{"size", sizePattern, func(s string) error { _, err := ParseSize(s); return err },
			[]string{"100", "1KiB", "4MiB", "1.5kB", "1 KiB", "2GB", "10B", "1e3", "KiB", "1KB", "1kb", "-1", "abc", "1.5", "", "0"},
			[]string{"1.5"}},
		{"rate", ratePattern, func(s string) error { _, err := ParseRate(s); return err },
			[]string{"max", "0", "5k/s", "1000/s", "1.5M/s", "5k", "100", "5k /s", "1e3/s", "5 k/s", "fast", "-5/s", "5/m", "", "MAX"}, nil},
	}
	for _, c := range cases {
		re := regexp.MustCompile(c.pattern)
		for _, s := range c.samples {
			matches, parses := re.MatchString(s), c.parse(s) == nil
			if matches && !parses && !slices.Contains(c.loose, s) {
				t.Errorf("%s %q: the schema accepts it, the parser does not", c.name, s)
			}
			if parses && !matches {
				t.Errorf("%s %q: the parser accepts it, the schema would flag it", c.name, s)
			}
		}
	}
}
