package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/vbauerster/cupwriter"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/swarm"
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

// sofar keeps what a display shows beyond the last row: the run's latency
// so far (rows carry only each second's).
type sofar struct {
	e2e *hdrhistogram.Histogram
}

func newSofar() sofar { return sofar{e2e: swarm.NewHistogram()} }

func (s sofar) add(e2e *hdrhistogram.Histogram) {
	if e2e != nil {
		s.e2e.Merge(e2e)
	}
}

func (s sofar) p99() int64 { return s.e2e.ValueAtQuantile(99) }

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
// with rates averaged over the rows between.
type plainProgress struct {
	w     io.Writer
	load  time.Duration
	every int64 // seconds

	all     sofar
	window  sofar
	rows    int
	sent    float64
	acked   float64
	recv    float64
	last    report.Second
	faults  string
	pending bool
}

func newPlainProgress(w io.Writer, load time.Duration) *plainProgress {
	return &plainProgress{w: w, load: load, every: int64(plainEvery / time.Second), all: newSofar(), window: newSofar()}
}

func (p *plainProgress) Second(row report.Second, _, e2e *hdrhistogram.Histogram) {
	p.all.add(e2e)
	p.window.add(e2e)
	p.rows++
	p.sent += row.SentPerS
	p.acked += row.AckedPerS
	p.recv += row.ReceivedPerS
	p.last, p.pending = row, true
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
	n := float64(max(p.rows, 1))
	row := p.last
	line := fmt.Sprintf("%10s  sent %7.0f/s  acked %7.0f/s  recv %7.0f/s  in-flight %5d  lag %5d  p99 e2e %s (so far %s)  anomalies %d",
		phase(row.T, p.load), p.sent/n, p.acked/n, p.recv/n, row.InFlight, row.Lag,
		fmtUS(p.window.p99()), fmtUS(p.all.p99()), row.Anomalies)
	if f := faultText(row.Faults); f != "" {
		line += "  " + f
	}
	fmt.Fprintln(p.w, line)
	p.rows, p.sent, p.acked, p.recv, p.pending = 0, 0, 0, 0, false
	p.window.e2e.Reset()
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
