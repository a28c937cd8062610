package scenarios

import (
	"bytes"
	"errors"
	"github.com/mqcheck/mqcheck/broker/memory"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a valid memory scenario without a memory section, so that Set
// has to create it.
func base(t *testing.T) *Scenario {
	t.Helper()
	s := &Scenario{Name: "set", Broker: Broker{Kind: "kafka"}}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSet(t *testing.T) {
	tests := []struct {
		path, value string
		check       func(*Scenario) bool
	}{
		{"producers.rate", "5k/s", func(s *Scenario) bool { return s.Producers.Rate == 5000 }},
		{"producers.rate", "max", func(s *Scenario) bool { return s.Producers.Rate == 0 }},
		{"producers.count", "8", func(s *Scenario) bool { return s.Producers.Count == 8 }},
		{"producers.message_size", "4KiB", func(s *Scenario) bool { return s.Producers.MessageSize == 4096 }},
		{"duration", "1m30s", func(s *Scenario) bool { return s.Duration == Duration(90*time.Second) }},
		{"seed", "42", func(s *Scenario) bool { return s.Seed == 42 }},
		{"broker.keep", "true", func(s *Scenario) bool { return s.Broker.Keep }},
		{"name", "yes", func(s *Scenario) bool { return s.Name == "yes" }},
		{"description", "a: b # not a comment", func(s *Scenario) bool { return s.Description == "a: b # not a comment" }},
		{"claims", "at-least-once,ordered", func(s *Scenario) bool {
			return reflect.DeepEqual(s.Claims, []string{"at-least-once", "ordered"})
		}},
		{"claims", "[exactly-once]", func(s *Scenario) bool { return reflect.DeepEqual(s.Claims, []string{"exactly-once"}) }},
		{"claims.0", "ordered", func(s *Scenario) bool { return reflect.DeepEqual(s.Claims, []string{"ordered"}) }},
		{"faults.0.at", "5s", func(s *Scenario) bool {
			return len(s.Faults) == 1 && s.Faults[0].At == Duration(5*time.Second)
		}},
		{"faults", "[{kind: restart, at: 2s, for: 1s}]", func(s *Scenario) bool {
			return len(s.Faults) == 1 && reflect.DeepEqual(s.Faults[0], Fault{Kind: "restart", At: Duration(2 * time.Second), For: Duration(time.Second)})
		}},
		{"broker.kafka.partitions", "12", func(s *Scenario) bool { return kafkaOf(s).Partitions == 12 }},
		{"broker.memory.faults.drop", "3", func(s *Scenario) bool {
			return memoryOf(s) != nil && memoryOf(s).Faults.Drop == 3
		}},
		{"broker.memory", "{partitions: 2, mode: queue}", func(s *Scenario) bool {
			return memoryOf(s) != nil && *memoryOf(s) == memory.Config{Partitions: 2, Mode: "queue"}
		}},
		{"broker.kind", "memory", func(s *Scenario) bool {
			// Defaults run again: the new kind gets its section.
			return s.Broker.Kind == "memory" && memoryOf(s) != nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.path+"="+tt.value, func(t *testing.T) {
			s := base(t)
			if err := s.Set(tt.path, tt.value); err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Fatalf("not applied: %+v", s)
			}
			// What Set produced marshals and parses back unchanged.
			out, err := Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeOnly(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, s) {
				t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", back, s, out)
			}
		})
	}
}

// decodeOnly parses without validating, for scenarios that Set may have made
// invalid on purpose.
func decodeOnly(data []byte) (*Scenario, error) {
	s, doc, err := Loader{}.decode(data, testSource)
	if err != nil {
		return nil, err
	}
	doc.finish(s)
	return s, nil
}

func TestSetRejects(t *testing.T) {
	tests := []struct {
		path, value string
		field       string
		msg         string
	}{
		{"broker.memroy.faults.drop", "3", "broker.memroy", `unknown field, did you mean "memory"?`},
		{"producer.rate", "5k/s", "producer", `did you mean "producers"?`},
		{"producers.rate", "fast", "producers.rate", `invalid rate "fast"`},
		{"producers.count", "abc", "producers.count", `expected an integer, got "abc"`},
		{"duration", "30", "duration", "has no unit"},
		{"claims", "ordered,", "claims.1", ""},
		{"faults.3.at", "5s", "faults.3", "past the end of faults (0 entries; index 0 appends one)"},
		{"faults.first.at", "5s", "faults.first", "expected an index"},
		{"duration.seconds", "1", "duration", `has no field "seconds"`},
		{"broker.kind.x", "1", "broker.kind", `has no field "x"`},
		{"broker.memory", "{partitons: 2}", "broker.memory.partitons", `did you mean "partitions"?`},
		{"broker.memory", "{partitions: [", "broker.memory", "invalid value"},
		{"producers", "5", "producers", "expected a mapping"},
		{"", "1", "", "empty path"},
		{"producers..rate", "1", "producers..rate", "empty segment"},
	}
	for _, tt := range tests {
		t.Run(tt.path+"="+tt.value, func(t *testing.T) {
			s := base(t)
			before, _ := Marshal(s)
			err := s.Set(tt.path, tt.value)
			if tt.msg == "" && tt.path == "claims" {
				// "ordered," is an empty second claim: allowed by Set,
				// rejected by Validate.
				if err != nil {
					t.Fatal(err)
				}
				err = s.Validate()
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T (%v) is not a *scenarios.Error", err, err)
			}
			e = problemAt(t, asErrors(err), tt.field)
			if !strings.Contains(e.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", e.Error(), tt.msg)
			}
			if tt.msg == "" {
				return
			}
			if after, _ := Marshal(s); !bytes.Equal(before, after) {
				t.Errorf("a failed Set changed the scenario:\n%s\n->\n%s", before, after)
			}
		})
	}
}

func TestSetKeepsExplicitZero(t *testing.T) {
	s := base(t)
	if err := s.Set("consumers.count", "0"); err != nil {
		t.Fatal(err)
	}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "consumers.count: is 0 but claim at-least-once needs consumers") {
		t.Fatalf("Validate after --set consumers.count=0: %v", err)
	}
}
