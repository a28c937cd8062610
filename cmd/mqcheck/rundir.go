package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mqcheck/mqcheck/runner"
)

// runsDir holds the run directories mqcheck names itself.
const runsDir = "runs"

// runFilesWritten are what a run writes into its directory, the files
// --force removes before another run takes the directory over.
var runFilesWritten = []string{"results.json", "scenario.yaml", "report.html", "junit.xml", "summary.md",
	runner.CheckerStateFile, "latency", "kafka-data"}

// makeRunDir creates the run's directory before anything runs, so that
// every problem with it is a usage error (exit 2) with a hint, and two runs
// never share one.
//
// Without out it is runs/NAME-YYYYMMDD-HHMMSS, created exclusively: a
// second run started in the same second gets NAME-...-2, and so on. With
// out, the directory is created if missing; one that holds another run
// (results.json or scenario.yaml) is refused unless force, which removes
// that run's files first.
func makeRunDir(out string, force bool, name string, now time.Time) (string, error) {
	if out == "" {
		return makeDefaultRunDir(filepath.Join(runsDir, safeName(name)+"-"+now.Format("20060102-150405")))
	}
	fi, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", runDirError(out, err, "--out")
		}
		return out, nil
	case err != nil:
		return "", runDirError(out, err, "--out")
	case !fi.IsDir():
		return "", usageError("--out %s is a file, not a directory: give a directory for the run (it is created if missing)", out)
	}
	for _, f := range []string{"results.json", "scenario.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			continue
		}
		if !force {
			return "", usageError("--out %s already holds a run (%s): give a new directory, or add --force to replace that run", out, f)
		}
		for _, f := range runFilesWritten {
			if err := os.RemoveAll(filepath.Join(out, f)); err != nil {
				return "", runDirError(out, err, "--out")
			}
		}
		break
	}
	// A directory that exists but cannot be written to would only fail
	// once the run is under way.
	probe, err := os.CreateTemp(out, ".mqcheck-*")
	if err != nil {
		return "", runDirError(out, err, "--out")
	}
	probe.Close()
	os.Remove(probe.Name())
	return out, nil
}

// maxSameSecond bounds the suffixes tried for runs of one scenario started
// in the same second.
const maxSameSecond = 1000

func makeDefaultRunDir(base string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", runDirError(filepath.Dir(base), err, "")
	}
	for i := 1; i <= maxSameSecond; i++ {
		dir := base
		if i > 1 {
			dir += "-" + strconv.Itoa(i)
		}
		err := os.Mkdir(dir, 0o755)
		switch {
		case err == nil:
			return dir, nil
		case !errors.Is(err, fs.ErrExist):
			return "", runDirError(dir, err, "")
		}
	}
	return "", usageError("%s and %d more of that name exist already: give --out DIR", base, maxSameSecond-1)
}

// runDirError is a usage error: the run directory is the user's choice (or
// the working directory they ran mqcheck in), so is its fix.
func runDirError(dir string, err error, flag string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	hint := "run mqcheck from a directory you can write to, or give --out DIR"
	if flag != "" {
		hint = "give " + flag + " a directory you can write to"
	}
	return usageError("cannot create the run directory %s: %v; %s", dir, err, hint)
}
