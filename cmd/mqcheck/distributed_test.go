package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
)

// workerScenario: three workers' parts of 3000 messages, each worker on a
// memory broker of its own (one process's broker) that drops 3 of them.
const workerScenario = `name: split
duration: 1s
seed: 11
broker: {kind: memory, memory: {faults: {window: 200, drop: 3}}}
producers: {count: 3, rate: 3k/s, message_size: 100}
consumers: {count: 3}
claims: [at-most-once, at-least-once]
`

// runWorkers runs n workers of file one after another in this process and
// returns their run directories.
func runWorkers(t *testing.T, file, runID string, n int) []string {
	t.Helper()
	base := t.TempDir()
	var dirs []string
	for i := range n {
		dir := filepath.Join(base, fmt.Sprintf("w%d", i))
		code, _, stderr := mqcheck(t, "run", file, "--worker", fmt.Sprintf("%d/%d", i, n), "--run-id", runID, "--out", dir, "-q")
		if code != exitPass {
			t.Fatalf("worker %d: exit %d\n%s", i, code, stderr)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// TestMergeSumsWorkers merges three workers' run directories: the merged
// counts are the sum of what each worker's broker did (3 drops each), the
// merged verdict decides, and a worker's own results leave their claims to
// the merge. The merged directory merges no further (it is no worker's).
func TestMergeSumsWorkers(t *testing.T) {
	t.Parallel()
	file := writeScenario(t, workerScenario)
	dirs := runWorkers(t, file, "sum-1", 3)
	for i, d := range dirs {
		r, err := report.ReadFile(filepath.Join(d, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Worker == nil || r.Worker.Index != i || r.Worker.Producers != 1 || r.Worker.FirstProducer != i || r.Verdict != checker.Unknown {
			t.Fatalf("worker %d results: worker %+v, verdict %s", i, r.Worker, r.Verdict)
		}
		if r.Counts.Sent != 1000 {
			t.Errorf("worker %d sent %d, want its part: 1000", i, r.Counts.Sent)
		}
	}
	out := filepath.Join(t.TempDir(), "merged")
	code, stdout, stderr := mqcheck(t, append(append([]string{"merge"}, dirs...), "--out", out)...)
	if code != exitFail {
		t.Fatalf("merge: exit %d, want 1 (at-least-once fails)\n%s\n%s", code, stdout, stderr)
	}
	r, err := report.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Counts
	want := checker.Counts{Sent: 3000, Acked: 3000, Received: 2991, Unique: 2991, Lost: 9}
	got := checker.Counts{Sent: c.Sent, Acked: c.Acked, Received: c.Received, Unique: c.Unique, Lost: c.Lost,
		Duplicated: c.Duplicated, Unexpected: c.Unexpected}
	if got != want {
		t.Errorf("merged counts\n got %+v\nwant %+v", got, want)
	}
	if r.Latency.PublishAcked.Count != 3000 || r.Merged == nil || len(r.Merged.Workers) != 3 || r.Verdict != checker.Fail {
		t.Errorf("latency count %d, merged %+v, verdict %s", r.Latency.PublishAcked.Count, r.Merged, r.Verdict)
	}
	for _, f := range []string{"scenario.yaml", "checker.state", "latency/publish-acked.hlog", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("merged run directory: %v", err)
		}
	}
	// The merged interval log adds up to the merged whole-run histogram.
	whole, _, err := report.ReadLatencyLog(filepath.Join(out, "latency", "publish-acked.hlog"))
	if err != nil || whole.TotalCount() != 3000 {
		t.Errorf("merged publish-acked.hlog: %v, %v values", err, whole)
	}
}

// TestDistributedBadInput: what cannot be split or merged exits 2, names
// the problem (the directories, for a merge), and runs nothing.
func TestDistributedBadInput(t *testing.T) {
	file := writeScenario(t, workerScenario)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	runs := []struct {
		name string
		args []string
		env  string // JOB_COMPLETION_INDEX
		want string
	}{
		{"index past the count", []string{"--worker", "3/2", "--run-id", "r"}, "", "index runs from 0 to 1"},
		{"no workers", []string{"--worker", "0/0", "--run-id", "r"}, "", "at least one worker"},
		{"not I/N", []string{"--worker", "two", "--run-id", "r"}, "", "want I/N"},
		{"both flags", []string{"--worker", "0/2", "--workers", "2", "--run-id", "r"}, "", "contradict"},
		{"--workers without the index", []string{"--workers", "2", "--run-id", "r"}, "", "JOB_COMPLETION_INDEX is not set"},
		{"index from env past the count", []string{"--workers", "2", "--run-id", "r"}, "2", "index runs from 0 to 1"},
		{"no run id", []string{"--worker", "0/2"}, "", "--run-id"},
		{"run id not a name", []string{"--worker", "0/2", "--run-id", "a/b"}, "", "--run-id \"a/b\""},
		{"start long past", []string{"--worker", "0/2", "--run-id", "r", "--start-at", past}, "", "more than the load lasts"},
		{"start not RFC 3339", []string{"--worker", "0/2", "--run-id", "r", "--start-at", "15:00"}, "", "RFC 3339"},
		{"run id alone", []string{"--run-id", "r"}, "", "--worker I/N"},
		{"more workers than producers", []string{"--worker", "0/4", "--run-id", "r"}, "", "producers.count: 3 producers"},
		{"fault on a worker past the count", []string{"--worker", "0/2", "--run-id", "r", "--set", "faults=[{kind: consumer-crash, at: 500ms, worker: 2}]"}, "",
			"faults.0.worker: worker 2"},
	}
	for _, tt := range runs {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(jobIndexEnv, tt.env)
			out := filepath.Join(t.TempDir(), "run")
			code, _, stderr := mqcheck(t, append([]string{"run", file, "--out", out}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, want 2 with %q\n%s", code, tt.want, stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a run directory was made: something ran")
			}
		})
	}

}

// TestMergeBadInput: merges of directories that are not one run's workers
// exit 2 naming them, and make nothing.
func TestMergeBadInput(t *testing.T) {
	t.Parallel()
	file := writeScenario(t, workerScenario)
	dirs := runWorkers(t, file, "bad-1", 2)
	other := runWorkers(t, file, "bad-2", 2)
	changed := writeScenario(t, strings.Replace(workerScenario, "seed: 11", "seed: 12", 1))
	otherScenario := runWorkers(t, changed, "bad-1", 2)
	partial := filepath.Join(t.TempDir(), "partial")
	if err := os.CopyFS(partial, os.DirFS(dirs[1])); err != nil {
		t.Fatal(err)
	}
	r, err := report.ReadFile(filepath.Join(partial, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	r.Partial, r.EndedAt = true, "" // as a killed worker leaves it
	if err := report.WriteFile(filepath.Join(partial, "results.json"), r); err != nil {
		t.Fatal(err)
	}
	merges := []struct {
		name string
		dirs []string
		want []string
	}{
		{"one directory twice", []string{dirs[0], dirs[0], dirs[1]}, []string{"same run directory", dirs[0]}},
		{"different run ids", []string{dirs[0], other[1]}, []string{"different runs", dirs[0], other[1]}},
		{"different scenarios", []string{dirs[0], otherScenario[1]}, []string{"different scenarios", dirs[0], otherScenario[1]}},
		{"a worker missing", []string{dirs[0]}, []string{"1 of 2 workers", "missing: 1"}},
		{"a partial worker", []string{dirs[0], partial}, []string{partial, "partial run", "--allow-partial"}},
		{"no worker's directory", []string{t.TempDir()}, []string{"no run directory"}},
	}
	for _, tt := range merges {
		t.Run("merge "+tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged")
			code, _, stderr := mqcheck(t, append(append([]string{"merge"}, tt.dirs...), "--out", out)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want 2\n%s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a merged directory was made")
			}
		})
	}
	// With --allow-partial the partial worker merges, and the verdict
	// is never pass.
	out := filepath.Join(t.TempDir(), "merged")
	code, _, stderr := mqcheck(t, "merge", dirs[0], partial, "--out", out, "--allow-partial", "-q")
	if code == exitPass || code == exitUsage {
		t.Fatalf("merge --allow-partial: exit %d\n%s", code, stderr)
	}
}

// TestFaultOnOneWorker: a fault runs on the worker faults[].worker names
// only; the other knows it from the schedule and marks it as run
// elsewhere; the merged run lists it once, with that worker.
func TestFaultOnOneWorker(t *testing.T) {
	t.Parallel()
	file := writeScenario(t, strings.Replace(workerScenario, "faults: {window: 200, drop: 3}", "faults: {}", 1)+
		"faults: [{kind: producer-crash, at: 300ms, client: 0, worker: 1}]\n")
	dirs := runWorkers(t, file, "fault-1", 2)
	for i, elsewhere := range []bool{true, false} {
		r, err := report.ReadFile(filepath.Join(dirs[i], "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Faults) != 1 || r.Faults[0].Elsewhere != elsewhere || r.Faults[0].Worker == nil || *r.Faults[0].Worker != 1 {
			t.Errorf("worker %d faults %+v, want the crash on worker 1 (elsewhere: %v)", i, r.Faults, elsewhere)
		}
	}
	out := filepath.Join(t.TempDir(), "merged")
	code, _, stderr := mqcheck(t, "merge", dirs[0], dirs[1], "--out", out, "-q")
	r, err := report.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("merge: exit %d: %v\n%s", code, err, stderr)
	}
	if len(r.Faults) != 1 || r.Faults[0].Worker == nil || *r.Faults[0].Worker != 1 || r.Faults[0].Kind != "producer-crash" {
		t.Errorf("merged faults %+v, want the one producer-crash of worker 1", r.Faults)
	}
}
