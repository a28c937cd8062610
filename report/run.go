package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Run is a finished run as its directory holds it: what the renderers that
// need more than results.json (the HTML report) work from.
type Run struct {
	Dir     string
	Results *Results
	// Scenario is scenario.yaml as the run wrote it; nil when missing.
	Scenario []byte
	// Label names the run on pages of several runs (mqcheck report
	// --label); empty: scenario and broker, with the run id if needed.
	Label string
}

// Load reads a run directory.
func Load(dir string) (*Run, error) {
	res, err := ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return nil, err
	}
	y, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the run's scenario: %w", err)
	}
	// Results written before whole-run histograms were kept: rebuild them
	// from the interval logs, which merge losslessly.
	for _, s := range res.Latency.Series() {
		lat := res.Latency.seriesPtr(s.Name)
		if lat.HDR != "" || lat.Count == 0 {
			continue
		}
		whole, _, err := ReadLatencyLog(filepath.Join(dir, "latency", s.File+".hlog"))
		if err != nil || whole == nil {
			continue // the summary still renders; only finer percentiles are missing
		}
		if enc, err := EncodeHistogram(whole); err == nil {
			lat.HDR = enc
		}
	}
	return &Run{Dir: dir, Results: res, Scenario: y}, nil
}

// WriteHTMLFile writes report.html into a run directory (a runner Writer).
func WriteHTMLFile(dir string, r *Results) error {
	y, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("writing report.html: reading the scenario: %w", err)
	}
	run := &Run{Dir: dir, Results: r, Scenario: y}
	return writeAtomic(filepath.Join(dir, "report.html"), func(w io.Writer) error { return HTML(w, run) })
}

// WriteJUnitFile writes junit.xml into a run directory (a runner Writer).
func WriteJUnitFile(dir string, r *Results) error {
	return writeAtomic(filepath.Join(dir, "junit.xml"), func(w io.Writer) error { return JUnit(w, r) })
}

// WriteMarkdownFile writes summary.md into a run directory (a runner Writer).
func WriteMarkdownFile(dir string, r *Results) error {
	return writeAtomic(filepath.Join(dir, "summary.md"), func(w io.Writer) error { return Markdown(w, r) })
}

// writeAtomic renders into a temporary file and renames it, so a reader
// (a CI step, a browser) never sees half a report.
func writeAtomic(path string, render func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := render(bw); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := errors.Join(bw.Flush(), tmp.Chmod(0o644), tmp.Close()); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}
