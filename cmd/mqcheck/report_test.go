package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/report"
)

// thresholdScenario runs a second on the memory broker with one threshold
// that holds and one that cannot (nothing is that fast).
const thresholdScenario = okScenario + `thresholds:
  - lost == 0
  - end_to_end.p50 < 1us
`

// TestReportsAndCompare makes one short run and checks, on it, every file
// a run writes, every report format, and compare.
func TestReportsAndCompare(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := mqcheck(t, "run", writeScenario(t, thresholdScenario), "--out", dir, "--quiet")
	if code != exitFail {
		t.Fatalf("a missed threshold: exit %d, want %d\n%s%s", code, exitFail, stdout, stderr)
	}
	res, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Thresholds) != 2 || res.Thresholds[0].Verdict != "pass" || res.Thresholds[1].Verdict != "fail" {
		t.Fatalf("thresholds in results.json: %+v", res.Thresholds)
	}
	for _, c := range res.Claims {
		if c.Verdict != "pass" {
			t.Fatalf("claim %s: %s (the run should fail on its threshold only)", c.Name, c.Verdict)
		}
	}

	t.Run("files", func(t *testing.T) {
		for _, f := range []string{"report.html", "junit.xml", "summary.md", "latency/publish.hlog",
			"latency/end-to-end.hlog", "latency/publish.hgrm", "latency/end-to-end.hgrm"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
		junit, _ := os.ReadFile(filepath.Join(dir, "junit.xml"))
		if !strings.Contains(string(junit), `<failure message="end_to_end.p50 was`) {
			t.Errorf("junit.xml lacks the missed threshold:\n%s", junit)
		}
	})

	t.Run("latency logs merge into results.json", func(t *testing.T) {
		for i, l := range []report.Latency{res.Latency.Publish, res.Latency.EndToEnd} {
			name := []string{"publish", "end-to-end"}[i]
			merged, intervals, err := report.ReadLatencyLog(filepath.Join(dir, "latency", name+".hlog"))
			if err != nil {
				t.Fatal(err)
			}
			if len(intervals) < 1 || report.Summarize(merged) != l {
				t.Errorf("%s: %d intervals merge to %+v\nresults.json: %+v", name, len(intervals), report.Summarize(merged), l)
			}
		}
	})

	t.Run("report formats", func(t *testing.T) {
		for format, want := range map[string]string{
			"text": "verdict: FAIL", "json": `"thresholds"`, "md": "| lost == 0 | ✅ pass |",
			"junit": "<testsuites", "html": `id="chart-latency"`,
		} {
			code, out, errs := mqcheck(t, "report", dir, "--format", format)
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("--format %s: exit %d, lacks %q\n%.400s%s", format, code, want, out, errs)
			}
		}
		code, out, _ := mqcheck(t, "report", dir, dir, "--format", "html")
		if code != 0 || !strings.Contains(out, `id="chart-cmp-throughput"`) {
			t.Errorf("two runs in html: exit %d", code)
		}
		// Several runs without a format: one table, not a usage error.
		if code, out, errs := mqcheck(t, "report", dir, dir); code != 0 || !strings.Contains(out, "runs side by side") {
			t.Errorf("two runs, default format: exit %d\n%s%s", code, out, errs)
		}
		// The same run twice reads as two rows all the same.
		code, out, _ = mqcheck(t, "report", dir, dir, "--format", "md")
		if code != 0 || !strings.Contains(out, "| cli-test · run "+res.RunID+" (1) |") ||
			!strings.Contains(out, "| cli-test · run "+res.RunID+" (2) |") {
			t.Errorf("two runs in md: exit %d\n%s", code, out)
		}
		code, out, _ = mqcheck(t, "report", dir, dir, "--format", "html", "--label", "before", "--label", "after")
		if code != 0 || !strings.Contains(out, "<td>before</td>") || !strings.Contains(out, "<td>after</td>") {
			t.Errorf("two runs labelled in html: exit %d", code)
		}
		for _, args := range [][]string{{dir, "--format", "pdf"}, {dir, dir, "--format", "junit"}, {t.TempDir()},
			{dir, dir, "--format", "html", "--label", "one"}} {
			if code, _, _ := mqcheck(t, append([]string{"report"}, args...)...); code != exitUsage {
				t.Errorf("report %v: exit %d, want %d", args, code, exitUsage)
			}
		}
	})

	t.Run("compare", func(t *testing.T) {
		if code, out, errs := mqcheck(t, "compare", dir, dir); code != 0 || !strings.Contains(out, "no regression") {
			t.Errorf("a run against itself: exit %d\n%s%s", code, out, errs)
		}
		worse := t.TempDir()
		r := *res
		h, err := r.Latency.EndToEnd.Histogram()
		if err != nil || h == nil {
			t.Fatalf("no end-to-end histogram: %v", err)
		}
		slow := report.Summarize(h)
		sh, _ := slow.Histogram()
		sh.Reset()
		for _, b := range h.Distribution() {
			if b.Count > 0 {
				_ = sh.RecordValues(b.From*2+20_000, b.Count) // 20ms slower, and twice as slow
			}
		}
		r.Latency.EndToEnd = report.Summarize(sh)
		r.Counts.Lost = 3
		if err := report.WriteFile(filepath.Join(worse, "results.json"), &r); err != nil {
			t.Fatal(err)
		}
		code, out, errs := mqcheck(t, "compare", dir, worse)
		if code != exitFail {
			t.Fatalf("slower with more loss: exit %d, want %d\n%s%s", code, exitFail, out, errs)
		}
		for _, want := range []string{"end_to_end latency p50", "lost"} {
			if !strings.Contains(errs, want) {
				t.Errorf("stderr does not name %q:\n%s", want, errs)
			}
		}
		// A generous tolerance for that series and for loss: no regression.
		code, _, errs = mqcheck(t, "compare", dir, worse, "--tolerance-metric", "end_to_end=10000%", "--tolerance-metric", "lost=100%")
		if code != exitFail || strings.Contains(errs, "end_to_end") {
			t.Errorf("per-metric tolerance: exit %d\n%s", code, errs) // loss from none is still a regression
		}
		for _, args := range [][]string{
			{dir, worse, "--tolerance", "lots"},
			{dir, worse, "--tolerance-metric", "end_to_end.p98=5%"},
			{dir, worse, "--tolerance-metric", "end_to_end.p99"},
			{dir, t.TempDir()},
			{dir},
		} {
			code, _, errs := mqcheck(t, append([]string{"compare"}, args...)...)
			if code != exitUsage {
				t.Errorf("compare %v: exit %d, want %d\n%s", args, code, exitUsage, errs)
			}
		}
		if _, _, errs := mqcheck(t, "compare", dir, worse, "--tolerance-metric", "end_to_endd.p99=5%"); !strings.Contains(errs, `"end_to_end.p99"`) {
			t.Errorf("no suggestion for a misspelt metric:\n%s", errs)
		}
	})
}

func TestBadThresholdExits2(t *testing.T) {
	body := okScenario + "thresholds:\n  - lost == 0\n  - end_to_end.p98 < 50ms\n  - lost = 0\n"
	code, _, stderr := mqcheck(t, "run", writeScenario(t, body), "--out", t.TempDir())
	if code != exitUsage {
		t.Fatalf("exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	for _, want := range []string{"thresholds.1", "did you mean", "thresholds.2", "unknown operator"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
