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
// log keeps every repaint). A terminal that reports no size (0×0, as some
// CI pseudo-terminals do) gets plain lines whatever was asked: the live
// status fits its lines to the terminal's height and would draw nothing.
func chooseProgress(mode string, out io.Writer) string {
	tty, width, height := terminal(out)
	switch {
	case mode == progressPlain, tty && (width <= 0 || height <= 0):
		return progressPlain
	case mode == progressLive:
		return progressLive
	case os.Getenv("CI") != "" || !tty:
		return progressPlain
	}
	return progressLive
}

// terminal asks the questions mpb asks before it draws in place: is w a
// terminal, and of what size (0×0 when it does not say). Tests fake it.
var terminal = func(w io.Writer) (tty bool, width, height int) {
	cw := cupwriter.New(w, false)
	if !cw.IsTerminal() {
		return false, 0, 0
	}
	width, height, err := cw.GetTermSize()
	if err != nil {
		return true, 0, 0
	}
	return true, width, height
}

func isTerminal(w io.Writer) bool {
	tty, _, _ := terminal(w)
	return tty
}

// phase is "12s/20s" in the load, "drain +3s" after it, and "stopped at
// 12s/20s, drain +3s" after a load the user stopped at 12s (stopped, 0 when
// the load was not stopped).
func phase(t int64, load time.Duration, stopped int64) string {
	total := int64(load / time.Second)
	switch {
	case stopped > 0 && t > stopped:
		return fmt.Sprintf("stopped at %ds/%ds, drain +%ds", stopped, total, t-stopped)
	case t > total:
		return fmt.Sprintf("drain +%ds", t-total)
	}
	return fmt.Sprintf("%ds/%ds", t, total)
}

// stopWatch tells when the user stopped the load (Ctrl-C): the rows that
// follow are the drain, not more load.
type stopWatch struct {
	interrupted func() bool // nil: never
	last        int64       // the last row's T
	stopped     int64       // the T the load stopped at; 0 while it runs
}

// next records row t and returns the T the load stopped at, or 0.
func (s *stopWatch) next(t int64) int64 {
	if s.stopped == 0 && s.interrupted != nil && s.interrupted() {
		s.stopped = max(s.last, 1)
	}
	s.last = t
	return s.stopped
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
	stop  stopWatch

	prog    *metrics.Progress
	faults  string
	pending bool
}

// newPlainProgress prints on w; interrupted (nil: never) says whether the
// user stopped the load.
func newPlainProgress(w io.Writer, load time.Duration, interrupted func() bool) *plainProgress {
	return &plainProgress{w: w, load: load, every: int64(plainEvery / time.Second), prog: metrics.NewProgress(),
		stop: stopWatch{interrupted: interrupted}}
}

func (p *plainProgress) Second(row report.Second, _, e2e *hdrhistogram.Histogram) {
	p.stop.next(row.T)
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
		phase(row.T, p.load, p.stop.stopped), w.SentPerS, w.AckedPerS, w.ReceivedPerS, row.InFlight, row.Lag,
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
