package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func sampleResults() *Results {
	yes, no := true, false
	start := int64(1_800_000_000_000_000_000)
	return &Results{
		SchemaVersion: SchemaVersion, Tool: "mqcheck test", RunID: "00112233aabbccdd",
		Scenario: ScenarioInfo{Name: "sample", Broker: "kafka", Seed: 42, Producers: 4, Consumers: 4,
			Subscriptions: 1, Rate: "2000/s", MessageSize: 1024, DurationMS: 20000,
			Claims: []string{"at-least-once", "ordered"}},
		Target: "embedded kfake, 3 brokers", LoadStartNS: start, Verdict: "fail",
		Drain: Drain{Complete: true, Reason: "every acknowledged message was received", DurationMS: 1234},
		Counts: checker.Counts{Sent: 40000, Acked: 39990, Indeterminate: 10, Received: 40005, Unique: 39995,
			Recovered: 5, Duplicated: 10, DuplicatedRedelivered: 0, Reordered: 2},
		Latency: Latencies{
			Publish:  Latency{Count: 39990, P50US: 850, P90US: 2100, P99US: 9800, P999US: 250000, MaxUS: 3_100_000},
			EndToEnd: Latency{Count: 40005, P50US: 1200, P90US: 3000, P99US: 15000, P999US: 400000, MaxUS: 3_500_000},
		},
		Throughput: Throughput{SentPerS: 2000, AckedPerS: 1999.5, ReceivedPerS: 2000.25},
		Faults: []Fault{{Kind: "restart", Target: "restart all nodes (kill)", StartMS: 8000, EndMS: 10000,
			PublishRecoveryMS: 850, DeliverRecoveryMS: 1200}},
		Claims: []checker.Claim{
			{Name: "at-least-once", Verdict: "pass", Holds: &yes, Summary: "all 39990 acknowledged messages received by each of 1 subscriptions"},
			{Name: "ordered", Verdict: "fail", Holds: &no, Summary: "2 first deliveries arrived after a later message",
				Evidence: []checker.Example{
					{Anomaly: "reordered", Producer: 3, Seq: 17001, SeqEnd: 17001, After: 17004, Subscription: "sub-0",
						Domain: "mqcheck-x/2", At: start + 9_500_000_000, Fault: "restart all nodes (kill) at 8s"},
					{Anomaly: "reordered", Producer: 1, Seq: 5, SeqEnd: 5, After: 6, Subscription: "sub-0", Domain: "mqcheck-x/0",
						At: start + 12_000_000_000, Redelivered: true},
				}},
		},
	}
}

func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, sampleResults()); err != nil {
		t.Fatal(err)
	}
	golden(t, "sample.txt", b.Bytes())
}

func TestJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "results.json")
	in := sampleResults()
	if err := WriteFile(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Counts != in.Counts || out.Verdict != in.Verdict || len(out.Claims) != 2 || *out.Claims[1].Holds {
		t.Fatalf("round trip changed the results: %+v", out)
	}
	// The fields DESIGN.md promises are present under their names.
	b, _ := os.ReadFile(path)
	for _, field := range []string{`"schema_version"`, `"verdict"`, `"holds"`, `"lost"`, `"p999_us"`,
		`"received_per_s"`, `"start_ms"`, `"timeline"`, `"dead_lettered"`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("results.json lacks %s", field)
		}
	}
}

func TestReadFileRejectsNewerSchema(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "results.json")
	if err := os.WriteFile(path, []byte(`{"schema_version": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil {
		t.Fatal("accepted a newer schema")
	}
}
