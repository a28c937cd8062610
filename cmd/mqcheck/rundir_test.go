package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDefaultRunDirIsUnique: two runs of one scenario started in the same
// second get two directories.
func TestDefaultRunDirIsUnique(t *testing.T) {
	t.Chdir(t.TempDir())
	now := time.Date(2026, 11, 28, 16, 15, 0, 0, time.UTC)
	a, err := makeRunDir("", false, "quickstart", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := makeRunDir("", false, "quickstart", now)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("both runs got %s", a)
	}
	if want := filepath.Join("runs", "quickstart-20261128-161500"); a != want || b != want+"-2" {
		t.Errorf("directories %s and %s, want %s and %s-2", a, b, want, want)
	}
}

// TestOutHoldingARunIsRefused: --out into a directory that holds another
// run is a usage error that leaves that run alone, unless --force.
func TestOutHoldingARunIsRefused(t *testing.T) {
	out := t.TempDir()
	file := writeScenario(t, okScenario)
	if code, stdout, stderr := mqcheck(t, "run", file, "--out", out, "-q"); code != exitPass {
		t.Fatalf("first run: exit %d\n%s%s", code, stdout, stderr)
	}
	first := readResults(t, out).RunID
	code, _, stderr := mqcheck(t, "run", file, "--out", out, "-q")
	if code != exitUsage || !strings.Contains(stderr, "already holds a run") || !strings.Contains(stderr, "--force") {
		t.Fatalf("second run into the same --out: exit %d, want %d with a hint:\n%s", code, exitUsage, stderr)
	}
	if got := readResults(t, out).RunID; got != first {
		t.Fatalf("the refused run replaced the results (run %s, was %s)", got, first)
	}
	if code, stdout, stderr := mqcheck(t, "run", file, "--out", out, "-q", "--force"); code != exitPass {
		t.Fatalf("--force: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := readResults(t, out).RunID; got == first {
		t.Errorf("--force kept the old results (run %s)", got)
	}
}

// TestRunDirProblemsAreUsage: a run directory that cannot be made is the
// user's to fix (exit 2, with a hint), not an infrastructure error.
func TestRunDirProblemsAreUsage(t *testing.T) {
	file := writeScenario(t, okScenario)
	aFile := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(aFile, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"--out is a file", []string{"--out", aFile}, "is a file"},
		{"--out under a file", []string{"--out", filepath.Join(aFile, "run")}, "give --out a directory you can write to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := mqcheck(t, append([]string{"run", file, "-q"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d naming %q:\n%s", code, exitUsage, tt.want, stderr)
			}
		})
	}
	t.Run("read-only working directory", func(t *testing.T) {
		dir := t.TempDir()
		if os.Geteuid() == 0 {
			// root writes through permissions; sysfs refuses even root.
			dir = "/sys"
		} else if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		code, _, stderr := mqcheck(t, "run", file, "-q")
		if code != exitUsage || !strings.Contains(stderr, "cannot create the run directory") || !strings.Contains(stderr, "--out DIR") {
			t.Errorf("exit %d, want %d with a hint:\n%s", code, exitUsage, stderr)
		}
	})
}

// TestTwoRunsAtOnce starts two mqcheck processes at the same moment into
// the default run directory: each must end with a complete run directory
// of its own (results.json, scenario.yaml, one header per latency log).
func TestTwoRunsAtOnce(t *testing.T) {
	t.Parallel()
	cwd := t.TempDir()
	file := writeScenario(t, okScenario)
	var cmds []*exec.Cmd
	for range 2 {
		c := exec.Command(os.Args[0], "run", file, "-q")
		c.Env = append(os.Environ(), asMainEnv+"=1", "CI=1")
		c.Dir = cwd
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	dirs, err := filepath.Glob(filepath.Join(cwd, "runs", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 {
		t.Fatalf("two runs made %d run directories: %v", len(dirs), dirs)
	}
	ids := map[string]bool{}
	for _, d := range dirs {
		res := readResults(t, d)
		ids[res.RunID] = true
		if res.Verdict != "pass" || res.Partial {
			t.Errorf("%s: verdict %s, partial %v", d, res.Verdict, res.Partial)
		}
		if _, err := os.Stat(filepath.Join(d, "scenario.yaml")); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		logs, _ := filepath.Glob(filepath.Join(d, "latency", "*.hlog"))
		if len(logs) == 0 {
			t.Errorf("%s: no latency logs", d)
		}
		for _, l := range logs {
			b, err := os.ReadFile(l)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "#[StartTime"); n != 1 {
				t.Errorf("%s: %d headers", l, n)
			}
		}
	}
	if len(ids) != 2 {
		t.Errorf("the two run directories hold the results of %d runs", len(ids))
	}
}
