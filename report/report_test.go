package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// TestTextConnectionsAndProcess: a run's connects and mqcheck's peak RSS
// get a line each, and none when the run has neither.
func TestTextConnectionsAndProcess(t *testing.T) {
	r := sampleResults()
	var b strings.Builder
	if err := Text(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "connections:") || strings.Contains(b.String(), "peak RSS") {
		t.Errorf("lines without data:\n%s", b.String())
	}
	r.Connections = &Connections{OK: 10000, Failed: 3, P50US: 1300, P99US: 17400, MaxUS: 2_500_000}
	r.Process = &Process{PeakRSSBytes: 852 << 20}
	b.Reset()
	if err := Text(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connections: 10,000 ok, 3 failed, connect p50/p99/max 1.3ms/17.4ms/2.50s\n", "mqcheck peak RSS: 852MiB\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
