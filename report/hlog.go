package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// latencyFiles are the latency series as files in a run directory's
// latency/ folder (publish.hlog, end-to-end.hlog, ...), in the order of
// Latencies.Series.
var latencyFiles = func() []string {
	var out []string
	for _, s := range (&Latencies{}).Series() {
		out = append(out, s.File)
	}
	return out
}()

// LatencyLog writes latency/<series>.hlog, the HdrHistogram interval logs
// of a run (one per latency series: publish, publish-acked, ...,
// end-to-end), one interval a second as the run goes (it is a runner
// Observer), so a killed run still leaves them. Finish (a runner Writer)
// appends what arrived after the last interval, so the intervals merge to
// exactly the whole-run histograms of results.json, and writes the .hgrm
// percentile distributions.
type LatencyLog struct {
	dir string

	mu     sync.Mutex
	files  []*os.File
	logs   []*hdrhistogram.HistogramLogWriter
	logged []*hdrhistogram.Histogram // what was written so far
	baseMS int64
	lastMS int64
	err    error // the first write error; later writes are skipped
}

// NewLatencyLog returns a LatencyLog for the run directory dir; files are
// created at the first interval.
func NewLatencyLog(dir string) *LatencyLog { return &LatencyLog{dir: dir} }

// Second logs the publish and end-to-end histograms of one interval; row.T
// dates the start of the load. Series logs every series.
func (l *LatencyLog) Second(row Second, publish, endToEnd *hdrhistogram.Histogram) {
	l.Series(row, map[string]*hdrhistogram.Histogram{"publish": publish, "end_to_end": endToEnd})
}

// Series logs one interval of every series, by its results.json name
// (publish_acked); a series missing from the map logs an empty interval.
func (l *LatencyLog) Series(row Second, series map[string]*hdrhistogram.Histogram) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().UnixMilli()
	if l.files == nil && l.err == nil {
		l.err = l.open(now - row.T*1000)
	}
	if l.err != nil {
		return
	}
	for i, s := range (&Latencies{}).Series() {
		h := series[s.Name]
		if h == nil {
			h = emptyInterval
		}
		if err := l.write(i, h, now); err != nil {
			l.err = err
			return
		}
	}
	l.lastMS = now
}

// emptyInterval stands for a series an interval did not carry.
var emptyInterval = hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)

func (l *LatencyLog) open(baseMS int64) error {
	dir := filepath.Join(l.dir, "latency")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing latency logs: %w", err)
	}
	l.baseMS, l.lastMS = baseMS, baseMS
	n := len(latencyFiles)
	l.files, l.logs, l.logged = make([]*os.File, n), make([]*hdrhistogram.HistogramLogWriter, n), make([]*hdrhistogram.Histogram, n)
	for i, name := range latencyFiles {
		f, err := os.Create(filepath.Join(dir, name+".hlog"))
		if err != nil {
			return fmt.Errorf("writing latency logs: %w", err)
		}
		l.files[i] = f
		lw := hdrhistogram.NewHistogramLogWriter(f)
		lw.SetBaseTime(baseMS)
		err = errors.Join(
			lw.OutputComment(fmt.Sprintf("[mqcheck %s latency: values in microseconds, Interval_Max in seconds]", name)),
			lw.OutputLogFormatVersion(), lw.OutputStartTime(baseMS), lw.OutputBaseTime(baseMS), lw.OutputLegend())
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.Name(), err)
		}
		l.logs[i] = lw
	}
	return nil
}

// write logs h as the interval from the last one to endMS.
func (l *LatencyLog) write(i int, h *hdrhistogram.Histogram, endMS int64) error {
	// The observer's histograms belong to the run: stamp a copy.
	c := h.Clone()
	c.SetStartTimeMs(l.lastMS)
	c.SetEndTimeMs(endMS)
	if err := l.logs[i].OutputIntervalHistogram(c); err != nil {
		return fmt.Errorf("writing %s: %w", l.files[i].Name(), err)
	}
	if l.logged[i] == nil {
		l.logged[i] = emptyLike(h)
	}
	l.logged[i].Merge(h)
	return nil
}

// Finish logs the remainder of each whole-run histogram of r as a last
// interval, closes the logs and writes latency/*.hgrm.
func (l *LatencyLog) Finish(dir string, r *Results) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.close()
	if l.files == nil && l.err == nil {
		// No interval was logged: the run stopped before or right at the
		// start of the load.
		base := r.LoadStartNS / 1e6
		if base == 0 {
			base = time.Now().UnixMilli()
		}
		l.err = l.open(base)
	}
	if l.err != nil {
		return l.err
	}
	end := time.Now().UnixMilli()
	if t, err := time.Parse(time.RFC3339Nano, r.EndedAt); err == nil {
		end = max(t.UnixMilli(), l.lastMS)
	}
	for i, s := range r.Latency.Series() {
		lat := s.Latency
		whole, err := lat.Histogram()
		switch {
		case err != nil:
			return fmt.Errorf("finishing %s latency log: %w", latencyFiles[i], err)
		case whole == nil && lat.Count > 0:
			return fmt.Errorf("finishing %s latency log: no whole-run histogram in the results", latencyFiles[i])
		case whole == nil:
			continue // nothing measured: a log with its header only, no distribution
		}
		rest := whole
		if l.logged[i] != nil {
			if rest, err = subtract(whole, l.logged[i]); err != nil {
				return fmt.Errorf("finishing %s latency log: %w", latencyFiles[i], err)
			}
		}
		if rest.TotalCount() > 0 {
			if err := l.write(i, rest, end); err != nil {
				return err
			}
		}
		if err := writeHGRM(filepath.Join(dir, "latency", latencyFiles[i]+".hgrm"), whole); err != nil {
			return err
		}
	}
	return nil
}

func (l *LatencyLog) close() {
	for i, f := range l.files {
		if f != nil {
			if err := f.Close(); err != nil && l.err == nil {
				l.err = fmt.Errorf("writing %s: %w", f.Name(), err)
			}
			l.files[i] = nil
		}
	}
}

func writeHGRM(path string, h *hdrhistogram.Histogram) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing percentile distribution: %w", err)
	}
	if err := HGRM(f, h); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ReadLatencyLog reads an .hlog file and merges its intervals into one
// histogram; it also returns the intervals, in order.
func ReadLatencyLog(path string) (*hdrhistogram.Histogram, []*hdrhistogram.Histogram, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading latency log: %w", err)
	}
	defer f.Close()
	return readLatencyLog(f, path)
}

func readLatencyLog(r io.Reader, name string) (*hdrhistogram.Histogram, []*hdrhistogram.Histogram, error) {
	lr := hdrhistogram.NewHistogramLogReader(r)
	var whole *hdrhistogram.Histogram
	var intervals []*hdrhistogram.Histogram
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if h == nil {
			break
		}
		if whole == nil {
			whole = emptyLike(h)
		}
		if dropped := whole.Merge(h); dropped > 0 {
			return nil, nil, fmt.Errorf("reading %s: intervals of different ranges (%d values dropped)", name, dropped)
		}
		intervals = append(intervals, h)
	}
	return whole, intervals, nil
}

// HGRM writes h's percentile distribution in HdrHistogram's text format
// (the .hgrm files its plotter and tools read), values in milliseconds.
func HGRM(w io.Writer, h *hdrhistogram.Histogram) error {
	_, err := h.PercentilesPrint(w, 5, 1000)
	return err
}
