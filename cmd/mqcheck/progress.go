package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/vbauerster/cupwriter"

	"github.com/mqcheck/mqcheck/metrics"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
)

// Progress modes of --progress.
const (
	progressAuto  = "auto"  // live on a terminal, plain elsewhere or in CI
	progressLive  = "live"  // a status that updates in place
	progressPlain = "plain" // a line every plainEvery
)

// plainEvery spaces plain progress lines: often enough to show a CI log is
// alive, rare enough that a ten-minute soak is not 600 lines.
const plainEvery = 5 * time.Second

// display follows a run on the terminal.
type display interface {
	runner.Observer
	// Stop renders the last state and releases the terminal, before the
	// summary is printed.
	Stop()
}

// chooseProgress resolves auto: live only when out is a terminal and the
// environment is not CI (CI runners often allocate a pseudo-terminal whose
// log keeps every repaint).
func chooseProgress(mode string, out io.Writer) string {
	if mode != progressAuto {
		return mode
	}
	if os.Getenv("CI") != "" || !isTerminal(out) {
		return progressPlain
	}
	return progressLive
}

// isTerminal asks the same question mpb asks before it draws in place.
func isTerminal(w io.Writer) bool {
	return cupwriter.New(w, false).IsTerminal()
}

// phase is "12s/20s" in the load, "drain +3s" after it.
func phase(t int64, load time.Duration) string {
	total := int64(load / time.Second)
	if t > total {
		return fmt.Sprintf("drain +%ds", t-total)
	}
	return fmt.Sprintf("%ds/%ds", t, total)
}

func faultText(faults []string) string {
	if len(faults) == 0 {
		return ""
	}
	return "FAULT: " + strings.Join(faults, ", ")
}

// plainProgress prints one line every plainEvery, plus one when a fault
// starts or ends and one at the end of the load: the lines a CI log needs,
// with rates averaged over the rows between (metrics.Progress).
type plainProgress struct {
	w     io.Writer
	load  time.Duration
	every int64 // seconds

	prog    *metrics.Progress
	faults  string
	pending bool
}

func newPlainProgress(w io.Writer, load time.Duration) *plainProgress {
	return &plainProgress{w: w, load: load, every: int64(plainEvery / time.Second), prog: metrics.NewProgress()}
}

func (p *plainProgress) Second(row report.Second, _, e2e *hdrhistogram.Histogram) {
	p.prog.Add(row, e2e)
	p.pending = true
	faults := faultText(row.Faults)
	if row.T == 1 || row.T%p.every == 0 || row.T == int64(p.load/time.Second) || faults != p.faults {
		p.faults = faults
		p.flush()
	}
}

func (p *plainProgress) flush() {
	if !p.pending {
		return
	}
	w := p.prog.Window()
	row := w.Last
	line := fmt.Sprintf("%10s  sent %7.0f/s  acked %7.0f/s  recv %7.0f/s  in-flight %5d  lag %5d  p99 e2e %s (so far %s)  anomalies %d",
		phase(row.T, p.load), w.SentPerS, w.AckedPerS, w.ReceivedPerS, row.InFlight, row.Lag,
		fmtUS(w.P99US), fmtUS(w.P99SoFarUS), row.Anomalies)
	if f := faultText(row.Faults); f != "" {
		line += "  " + f
	}
	fmt.Fprintln(p.w, line)
	p.prog.Reset()
	p.pending = false
}

// Stop prints the last row if it was not printed, so a log ends with where
// the run stopped.
func (p *plainProgress) Stop() { p.flush() }

func fmtUS(us int64) string { return report.FormatMicros(us) }

// fmtRate is a compact rate: 950/s, 4.0k/s, 1.2M/s.
func fmtRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM/s", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.0fk/s", r/1e3)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk/s", r/1e3)
	}
	return fmt.Sprintf("%.0f/s", r)
}
