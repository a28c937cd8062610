package scenarios

import (
	"errors"
	"fmt"
	"github.com/mqcheck/mqcheck/broker/memory"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testSource = "test.yaml"

// mustFail parses src, expects it to be rejected, and returns the problems.
func mustFail(t *testing.T, src string) Errors {
	t.Helper()
	s, err := Parse([]byte(src), testSource)
	if err == nil {
		out, _ := Marshal(s)
		t.Fatalf("Parse accepted:\n%s\nresolved:\n%s", src, out)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T (%v) is not a *scenarios.Error: the CLI would not exit 2", err, err)
	}
	return asErrors(err)
}

func mustParse(t *testing.T, src string) *Scenario {
	t.Helper()
	s, err := Parse([]byte(src), testSource)
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror:\n%v", src, err)
	}
	return s
}

// problemAt returns the problem about field, or fails listing what there was.
func problemAt(t *testing.T, es Errors, field string) *Error {
	t.Helper()
	for _, e := range es {
		if e.Field == field {
			return e
		}
	}
	t.Fatalf("no problem about %q in:\n%v", field, es)
	return nil
}

func TestParseRejects(t *testing.T) {
	const minimal = "broker: {kind: memory}\n"
	tests := []struct {
		name  string
		src   string
		field string
		line  int // 0: the field is not in the file
		msg   []string
	}{
		{"unknown top-level field", minimal + "duraton: 5s\n", "duraton", 2,
			[]string{"unknown field", `did you mean "duration"?`}},
		{"unknown nested field", "broker:\n  kind: memory\n  memory:\n    faults:\n      dorp: 3\n", "broker.memory.faults.dorp", 5,
			[]string{`did you mean "drop"?`}},
		{"misspelt section", "broker:\n  kind: memory\n  memroy: {partitions: 2}\n", "broker.memroy", 3,
			[]string{`did you mean "memory"?`}},
		{"unknown field in a list entry", minimal + "faults:\n  - kind: restart\n    att: 5s\n", "faults.0.att", 4,
			[]string{`did you mean "at"?`}},
		{"unknown kafka field, found by reflection", "broker:\n  kind: kafka\n  kafka:\n    partitons: 3\n", "broker.kafka.partitons", 4,
			[]string{`did you mean "partitions"?`}},
		{"unknown field far from any", minimal + "colour: blue\n", "colour", 2,
			[]string{"unknown field (known: name, description, seed, duration"}},
		{"count not a number", minimal + "producers:\n  count: abc\n", "producers.count", 3,
			[]string{`expected an integer, got "abc"`}},
		{"count a float", minimal + "consumers: {count: 1.5}\n", "consumers.count", 2,
			[]string{"expected an integer"}},
		{"count out of range", minimal + "producers: {count: 99999999999999999999}\n", "producers.count", 2,
			[]string{"out of range"}},
		{"rate not a rate", minimal + "producers:\n  rate: fast\n", "producers.rate", 3,
			[]string{`invalid rate "fast"`}},
		{"negative rate", minimal + "producers: {rate: -5/s}\n", "producers.rate", 2,
			[]string{"negative"}},
		{"duration without unit", minimal + "duration: 30\n", "duration", 2,
			[]string{`duration "30" has no unit`}},
		{"fault time without unit", minimal + "faults: [{kind: restart, at: 5}]\n", "faults.0.at", 2,
			[]string{"has no unit"}},
		{"broker as a string", "broker: memory\n", "broker", 1,
			[]string{"expected a mapping", `got "memory"`}},
		{"claims as a string", minimal + "claims: ordered\n", "claims", 2,
			[]string{"expected a list"}},
		{"bool as a word", "broker: {kind: memory, keep: sometimes}\n", "broker.keep", 1,
			[]string{"expected true or false"}},
		{"missing broker", "duration: 5s\n", "broker.kind", 0,
			[]string{"is required (memory, kafka, rabbitmq, sqs, nats, mqtt, redis)"}},
		{"missing kind", "broker:\n  target: embedded\n", "broker.kind", 1,
			[]string{"is required (memory, kafka, rabbitmq, sqs, nats, mqtt, redis)"}},
		{"unknown broker kind", "broker: {kind: rabbit}\n", "broker.kind", 1,
			[]string{`unknown broker kind "rabbit"`, "memory, kafka"}},
		{"misspelt broker kind", "broker: {kind: kafak}\n", "broker.kind", 1,
			[]string{`did you mean "kafka"?`}},
		{"unknown claim", minimal + "claims:\n  - at-least-once\n  - orderd\n", "claims.1", 4,
			[]string{`unknown claim "orderd"`, `did you mean "ordered"?`}},
		{"claim twice", minimal + "claims: [ordered, ordered]\n", "claims.1", 2,
			[]string{"listed twice"}},
		{"fault after the end", minimal + "duration: 30s\nfaults:\n  - kind: restart\n    at: 40s\n", "faults.0.at", 5,
			[]string{"fault at 40s starts after the run ends at 30s"}},
		{"unknown fault kind", minimal + "faults: [{kind: restrat, at: 1s}]\n", "faults.0.kind", 2,
			[]string{`did you mean "restart"?`}},
		{"negative fault length", minimal + "faults: [{kind: restart, at: 1s, for: -2s}]\n", "faults.0.for", 2,
			[]string{"must not be negative"}},
		{"message smaller than the header", minimal + "producers: {message_size: 20}\n", "producers.message_size", 2,
			[]string{"below 48 bytes", "header"}},
		{"message too large", minimal + "producers: {message_size: 32MiB}\n", "producers.message_size", 2,
			[]string{"above the limit of 16MiB"}},
		{"unknown checksum coverage", minimal + "producers: {checksum: headers}\n", "producers.checksum", 2,
			[]string{`unknown coverage "headers"`, `did you mean "header"?`}},
		{"no consumers for a claim", minimal + "consumers:\n  count: 0\nclaims: [at-least-once]\n", "consumers.count", 3,
			[]string{"is 0 but claim at-least-once needs consumers"}},
		{"explicit zero producers", minimal + "producers: {count: 0}\n", "producers.count", 2,
			[]string{"is 0 (a consume-only run) but consumers.backlog is not set", "--backlog DIR"}},
		{"negative producers", minimal + "producers: {count: -1}\n", "producers.count", 2,
			[]string{"must not be negative"}},
		{"a backlog with producers", minimal + "producers: {count: 2}\nconsumers: {backlog: runs/p}\n", "consumers.backlog", 3,
			[]string{"set producers.count: 0", "2 producers"}},
		{"a backlog without consumers", minimal + "producers: {count: 0}\nconsumers: {count: 0, backlog: runs/p}\n", "consumers.count", 3,
			[]string{"is 0 but consumers.backlog runs/p is for consumers to read"}},
		{"explicit zero duration", minimal + "duration: 0s\n", "duration", 2,
			[]string{"must be positive"}},
		{"memory section with kafka kind", "broker:\n  kind: kafka\n  memory:\n    partitions: 3\n", "broker.memory", 3,
			[]string{"is set but broker.kind is kafka"}},
		{"url target without url", "broker: {kind: kafka, target: url}\n", "broker.url", 1,
			[]string{"is required when broker.target is url"}},
		{"url ignored by embedded target", "broker: {kind: kafka, target: embedded, url: 'localhost:9092'}\n", "broker.url", 1,
			[]string{"broker.target is embedded"}},
		{"unknown target", "broker: {kind: kafka, target: docker}\n", "broker.target", 1,
			[]string{`unknown target "docker"`}},
		{"unknown memory mode", "broker: {kind: memory, memory: {mode: fifo}}\n", "broker.memory.mode", 1,
			[]string{`unknown mode "fifo"`, "partitioned, queue"}},
		{"more memory faults than window", "broker: {kind: memory, memory: {faults: {window: 4, drop: 3, duplicate: 2}}}\n", "broker.memory.faults", 1,
			[]string{"5 faults", "window is 4"}},
		{"kafka section's own check", "broker:\n  kind: kafka\n  kafka:\n    acks: maybe\n", "broker.kafka.acks", 4,
			[]string{`"maybe"`}},
		{"name naming no directory", minimal + "name: a/b\n", "name", 2,
			[]string{"must not contain /"}},
		{"alias without anchor", minimal + "duration: *d\n", "duration", 2, []string{"alias"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := mustFail(t, tt.src)
			e := problemAt(t, es, tt.field)
			if e.Source != testSource {
				t.Errorf("Source = %q, want %q (%v)", e.Source, testSource, e)
			}
			if e.Line != tt.line {
				t.Errorf("Line = %d, want %d (%v)", e.Line, tt.line, e)
			}
			for _, m := range tt.msg {
				if !strings.Contains(e.Error(), m) {
					t.Errorf("error %q does not say %q", e.Error(), m)
				}
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	src := "duraton: 5s\nbroker:\n  kind: memory\nproducers:\n  count: abc\n  rate: fast\n"
	es := mustFail(t, src)
	var got []string
	for _, e := range es {
		got = append(got, e.Field)
	}
	want := []string{"duraton", "producers.count", "producers.rate"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields = %v, want %v (in file order)\n%v", got, want, es)
	}

	// Validation collects too, after decoding succeeded.
	src = "broker: {kind: memory}\nduration: 10s\nconsumers: {count: 0}\nclaims: [at-least-once, orderd]\nproducers: {message_size: 10}\nfaults: [{kind: restart, at: 1m}]\n"
	es = mustFail(t, src)
	for _, f := range []string{"consumers.count", "claims.1", "producers.message_size", "faults.0.at"} {
		problemAt(t, es, f)
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"duplicate key", "broker: {kind: memory}\nduration: 5s\nduration: 6s\n", 3, "already defined"},
		{"second document", "broker: {kind: memory}\n---\nname: x\n", 3, "one scenario"},
		{"not a mapping", "- a\n- b\n", 1, "expected a mapping"},
		{"bad flow", "broker: {kind: memory\n", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := mustFail(t, tt.src)
			e := es[0]
			if e.Line != tt.line || e.Source != testSource {
				t.Errorf("got %s:%d, want %s:%d (%v)", e.Source, e.Line, testSource, tt.line, e)
			}
			if !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("message %q does not say %q", e.Msg, tt.msg)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Parse([]byte("broker:\n  kind: memory\n"), filepath.Join("runs", "my-run.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Scenario{
		Name:         "my-run",
		Duration:     Duration(10 * time.Second),
		DrainTimeout: Duration(30 * time.Second),
		DrainSettle:  Duration(2 * time.Second),
		Broker:       Broker{Kind: "memory", Target: "embedded", Config: &memory.Config{}},
		Producers:    Producers{Count: 1, MessageSize: 1024, MaxInFlight: 1000},
		Consumers:    Consumers{Count: 1, Subscriptions: 1},
		Claims:       []string{"at-least-once"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", s, want)
	}

	// ApplyDefaults on a scenario built in Go fills the same.
	g := &Scenario{Name: "my-run", Broker: Broker{Kind: "memory"}}
	g.ApplyDefaults()
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("ApplyDefaults:\n got %+v\nwant %+v", g, want)
	}
}

func TestDefaultsDependOnContext(t *testing.T) {
	s := mustParse(t, "broker: {kind: kafka, url: 'k1:9092,k2:9092'}\n")
	if s.Broker.Target != TargetURL {
		t.Errorf("a url without a target: target = %q, want url", s.Broker.Target)
	}
	if kafkaOf(s) == nil || memoryOf(s) != nil {
		t.Errorf("kafka kind: sections kafka=%v memory=%v, want only kafka", kafkaOf(s), memoryOf(s))
	}
	// An empty section of another kind configures nothing: not an error.
	s = mustParse(t, "broker: {kind: kafka, memory: {}}\n")
	if memoryOf(s) != nil {
		t.Errorf("empty memory section kept for kafka kind")
	}
	// Zero rate is closed loop, not "missing".
	for _, r := range []string{"0", "max"} {
		s = mustParse(t, "broker: {kind: memory}\nproducers: {rate: "+r+"}\n")
		if s.Producers.Rate != 0 {
			t.Errorf("rate %s = %v, want 0 (closed loop)", r, s.Producers.Rate)
		}
	}
	// Explicit null means default, like an absent field.
	s = mustParse(t, "broker: {kind: memory}\nconsumers:\n  count:\n")
	if s.Consumers.Count != 1 {
		t.Errorf("consumers.count null = %d, want the default 1", s.Consumers.Count)
	}
	// An explicit empty claims list is the default too: once marshaled it
	// could not be told from a missing one.
	s = mustParse(t, "broker: {kind: memory}\nclaims: []\n")
	if !reflect.DeepEqual(s.Claims, []string{ClaimAtLeastOnce}) {
		t.Errorf("claims [] = %v", s.Claims)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	src := `broker: {kind: kafka}
duration: 30s
faults:
  - &restart {kind: restart, at: 5s, for: 1s}
  - <<: *restart
    graceful: true
  - *restart
`
	s := mustParse(t, src)
	want := Fault{Kind: "restart", At: Duration(5 * time.Second), For: Duration(time.Second)}
	if len(s.Faults) != 3 || !reflect.DeepEqual(s.Faults[0], want) || !reflect.DeepEqual(s.Faults[2], want) || !s.Faults[1].Graceful || s.Faults[1].At != want.At {
		t.Fatalf("faults = %+v", s.Faults)
	}
	// A problem inside a merged mapping is still found.
	es := mustFail(t, "broker: {kind: memory}\nx-base: &b {kind: restart}\n")
	problemAt(t, es, "x-base")
	es = mustFail(t, "broker: {kind: memory}\nfaults:\n  - <<: {kind: restart, att: 1s}\n")
	problemAt(t, es, "faults.0.att")
}

func TestAliasBombStaysCheap(t *testing.T) {
	// Each level doubles the expansion; nothing may expand it.
	var b strings.Builder
	b.WriteString("broker: {kind: memory}\nx0: &a0 [ordered]\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [*a%d, *a%d]\n", i, i, i-1, i-1)
	}
	b.WriteString("claims: *a39\n")
	start := time.Now()
	if _, err := Parse([]byte(b.String()), testSource); err == nil {
		t.Fatal("unknown fields accepted")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "restart-test.yaml")
	if err := os.WriteFile(path, []byte("broker: {kind: memory}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "restart-test" {
		t.Errorf("name = %q, want the file's base name", s.Name)
	}

	s, err = Load("quickstart")
	if err != nil || s.Name != "quickstart" {
		t.Fatalf("built-in: %v, %v", s, err)
	}

	// A file beats a built-in of the same name.
	t.Chdir(dir)
	if err := os.WriteFile("quickstart", []byte("name: local\nbroker: {kind: memory}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = Load("quickstart"); err != nil || s.Name != "local" {
		t.Fatalf("local file: %v, %v", s, err)
	}

	_, err = Load("quikstart")
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), `did you mean "quickstart"?`) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing scenario: %v", err)
	}
	_, err = Load(dir)
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("directory: %v", err)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")
	src := "duration: 30s\nfaults:\n  - kind: restart\n    at: 20s\n    restart_command: [docker, restart, broker-1]\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	// --set can complete a file that is not valid alone.
	s, err := Resolve(path, []string{"broker.kind=kafka", "broker.url=k:9092"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Broker.Target != TargetURL {
		t.Errorf("target = %q: overrides come before defaults, so a url picks target url", s.Broker.Target)
	}

	// Problems point at the --set or at the file line they come from.
	_, err = Resolve(path, []string{"broker.kind=memory", "consumers.count=0", "claims=at-least-once", "duration=10s"})
	es := asErrors(err)
	if e := problemAt(t, es, "consumers.count"); e.Source != "--set consumers.count=0" || e.Line != 0 {
		t.Errorf("consumers.count: %v", e)
	}
	// The fault's time is written in the file, but the --set that
	// shortened the run made it wrong: the --set is named, the line kept.
	if e := problemAt(t, es, "faults.0.at"); e.Source != "--set duration=10s" || !strings.Contains(e.Msg, "(see "+path+":4)") {
		t.Errorf("faults.0.at: %v", e)
	}

	// A built-in that is fine alone: the --set that breaks it is named,
	// not the built-in's line of the field it contradicts.
	_, err = Resolve("rabbitmq-work-queue", []string{"duration=20s", "consumers.subscriptions=2"})
	e := problemAt(t, asErrors(err), "broker.rabbitmq.pattern")
	if e.Source != "--set consumers.subscriptions=2" || e.Line != 0 || !strings.Contains(e.Msg, "(see builtin/rabbitmq-work-queue.yaml:") {
		t.Errorf("broker.rabbitmq.pattern: %v", e)
	}

	_, err = Resolve(path, []string{"broker.kind=memory", "producers.rate=fast", "nonsense"})
	es = asErrors(err)
	if e := problemAt(t, es, "producers.rate"); e.Source != "--set producers.rate=fast" {
		t.Errorf("producers.rate: %v", e)
	}
	if len(es) != 2 || !strings.Contains(es[1].Error(), "--set nonsense: expected path=value") {
		t.Errorf("malformed --set: %v", es)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Source: "s.yaml", Line: 3, Field: "duraton", Msg: `unknown field, did you mean "duration"?`},
			`s.yaml:3: duraton: unknown field, did you mean "duration"?`},
		{&Error{Source: "s.yaml", Field: "broker.kind", Msg: "is required (memory, kafka)"},
			"s.yaml: broker.kind: is required (memory, kafka)"},
		{&Error{Field: "producers.rate", Msg: "bad"}, "producers.rate: bad"},
		{&Error{Source: "s.yaml", Line: 1, Msg: "syntax"}, "s.yaml:1: syntax"},
		{&Error{Source: "x", Err: os.ErrNotExist}, "x: " + os.ErrNotExist.Error()},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	var err error = Errors{tests[0].e, tests[1].e}
	if got := err.Error(); got != tests[0].want+"\n"+tests[1].want {
		t.Errorf("Errors: %q", got)
	}
	var e *Error
	if !errors.As(err, &e) || e != tests[0].e {
		t.Errorf("errors.As did not find the first *Error")
	}
	if Errors(nil).err() != nil {
		t.Errorf("an empty list must be a nil error")
	}
}

func TestClosest(t *testing.T) {
	known := []string{"duration", "drain_timeout", "max_in_flight", "message_size", "seed"}
	for word, want := range map[string]string{
		"duraton":       "duration",
		"Duration":      "duration",
		"drain":         "drain_timeout",
		"max-in-flight": "max_in_flight",
		"message-size":  "message_size",
		"xyz":           "",
	} {
		got, ok := closest(word, known)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("closest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestFieldsFollowGoccyNaming(t *testing.T) {
	type inner struct {
		Deep int `yaml:"deep"`
	}
	type sample struct {
		Tagged   int    `yaml:"tagged,omitempty"`
		JSONOnly int    `json:"json_only"`
		Plain    int    // goccy lower-cases the Go name
		Skipped  int    `yaml:"-"`
		hidden   int    // unexported: not a YAML field
		Inline   inner  `yaml:",inline"`
		Text     string `yaml:"text"`
	}
	_ = sample{}.hidden
	got := fieldNames(fieldsOf(reflect.TypeFor[sample]()))
	want := []string{"tagged", "json_only", "plain", "deep", "text"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
}
