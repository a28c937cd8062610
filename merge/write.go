package merge

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/report"
)

// Write makes out the merged run directory: results.json, scenario.yaml,
// checker.state (the merged state: merged runs merge again) and
// latency/*.hlog, whose intervals are the workers' added interval by
// interval. out must not hold a run yet.
func (m *Result) Write(out string) error {
	if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
		return inputErr("--out %s already holds a run: give a new directory", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", out, err)
	}
	if err := os.WriteFile(filepath.Join(out, "scenario.yaml"), m.Scenario, 0o644); err != nil {
		return fmt.Errorf("writing the merged run: %w", err)
	}
	if err := writeState(m, filepath.Join(out, StateFile)); err != nil {
		return err
	}
	if err := writeLatencyLogs(m.dirs, out, m.Results); err != nil {
		return err
	}
	return report.WriteFile(filepath.Join(out, "results.json"), m.Results)
}

func writeState(m *Result, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the merged checker state: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = m.Checker.Save(bw)
	return errors.Join(err, bw.Flush(), f.Close())
}

// writeLatencyLogs adds the workers' interval logs interval by interval
// (the i-th second of every worker's load into one interval) and writes
// them with the .hgrm distributions of the merged whole-run histograms.
func writeLatencyLogs(dirs []string, out string, r *report.Results) error {
	ldir := filepath.Join(out, "latency")
	if err := os.MkdirAll(ldir, 0o755); err != nil {
		return fmt.Errorf("writing latency logs: %w", err)
	}
	base := r.LoadStartNS / 1e6
	for _, s := range r.Latency.Series() {
		var merged []*hdrhistogram.Histogram
		for _, d := range dirs {
			_, intervals, err := report.ReadLatencyLog(filepath.Join(d, "latency", s.File+".hlog"))
			if errors.Is(err, os.ErrNotExist) {
				continue // a worker killed before its first interval
			}
			if err != nil {
				return err
			}
			for i, h := range intervals {
				if i >= len(merged) {
					merged = append(merged, hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures())))
					merged[i].SetStartTimeMs(base + int64(i)*1000)
					merged[i].SetEndTimeMs(base + int64(i+1)*1000)
				}
				merged[i].Merge(h)
			}
		}
		if err := writeLog(filepath.Join(ldir, s.File+".hlog"), s.File, base, merged); err != nil {
			return err
		}
		if whole, err := s.Histogram(); err == nil && whole != nil {
			if err := writeHGRM(filepath.Join(ldir, s.File+".hgrm"), whole); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeLog(path, name string, baseMS int64, intervals []*hdrhistogram.Histogram) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing latency logs: %w", err)
	}
	lw := hdrhistogram.NewHistogramLogWriter(f)
	lw.SetBaseTime(baseMS)
	err = errors.Join(
		lw.OutputComment(fmt.Sprintf("[mqcheck %s latency, merged from workers: values in microseconds, Interval_Max in seconds]", name)),
		lw.OutputLogFormatVersion(), lw.OutputStartTime(baseMS), lw.OutputBaseTime(baseMS), lw.OutputLegend())
	for _, h := range intervals {
		if err != nil {
			break
		}
		err = lw.OutputIntervalHistogram(h)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func writeHGRM(path string, h *hdrhistogram.Histogram) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing percentile distribution: %w", err)
	}
	err = report.HGRM(f, h)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
