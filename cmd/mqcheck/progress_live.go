package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/mqcheck/mqcheck/metrics"
	"github.com/mqcheck/mqcheck/report"
)

// liveProgress is the terminal status: three lines redrawn in place by mpb
// (github.com/vbauerster/mpb/v8), which owns the cursor work: repainting,
// terminal width, and printing log lines above the status (Write) without
// tearing it.
//
//	12s/20s    [==============>-----------] anomalies 0
//	send 4.0k/s  recv 3.9k/s  in-flight 793  lag 660  p99 13.8ms (so far 12.4ms)
//	FAULT: restart all nodes (kill)
type liveProgress struct {
	p    *mpb.Progress
	bar  *mpb.Bar
	load time.Duration

	mu   sync.Mutex
	row  report.Second
	rows int
	prog *metrics.Progress
	stop stopWatch
}

// liveRefresh: redraws between rows keep the display responsive to
// resizes without costing the run anything measurable.
const liveRefresh = 250 * time.Millisecond

// newLiveProgress draws on w. It draws in place even when w is not a
// terminal: auto picks live only for terminals, so a user who asks for it
// elsewhere (--progress live into a file) gets what they asked for.
// interrupted (nil: never) says whether the user stopped the load: the bar
// then stays where the load stopped.
func newLiveProgress(w io.Writer, load time.Duration, interrupted func() bool) *liveProgress {
	l := &liveProgress{load: load, prog: metrics.NewProgress(), stop: stopWatch{interrupted: interrupted}}
	l.p = mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(liveRefresh), mpb.ForceTTY(), mpb.WithAutoRefresh())
	// Total 0 keeps the bar from completing itself when the load phase is
	// over: the drain follows, and Stop completes it.
	l.bar = l.p.New(0,
		mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding("-").Rbound("]"),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return "  " + l.phase() }, decor.WC{W: 13, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return " " + l.anomalies() })),
		mpb.BarBtmExtender(l.line(l.stats), l.line(l.faults)),
	)
	l.bar.SetTotal(max(load.Milliseconds(), 1), false)
	return l
}

// line adapts a text function to an mpb line filler, cut to the terminal's
// width: a wrapped line would break the in-place redraw.
func (l *liveProgress) line(text func() string) mpb.BarFiller {
	return mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
		s := "  " + text()
		if width := st.AvailableWidth; width > 1 {
			s = truncate(s, width-1)
		}
		_, err := fmt.Fprintln(w, s)
		return err
	})
}

func truncate(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-1]) + "…"
}

func (l *liveProgress) phase() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rows == 0 {
		return fmt.Sprintf("0s/%ds", int64(l.load/time.Second))
	}
	return phase(l.row.T, l.load, l.stop.stopped)
}

func (l *liveProgress) stats() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rows == 0 {
		return "starting…"
	}
	r := l.row
	lag := "?"
	if r.Lag >= 0 {
		lag = fmt.Sprint(r.Lag)
	}
	return fmt.Sprintf("send %s  recv %s  in-flight %d  lag %s  p99 %s (so far %s)",
		fmtRate(r.SentPerS), fmtRate(r.ReceivedPerS), r.InFlight, lag, fmtUS(r.E2EP99US), fmtUS(l.prog.P99SoFar()))
}

func (l *liveProgress) anomalies() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("anomalies %d", l.row.Anomalies)
}

func (l *liveProgress) faults() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := faultText(l.row.Faults); f != "" {
		return f
	}
	return "no fault active"
}

func (l *liveProgress) Second(row report.Second, _, e2e *hdrhistogram.Histogram) {
	l.mu.Lock()
	stopped := l.stop.next(row.T)
	l.row = row
	l.rows++
	l.prog.Add(row, e2e)
	l.mu.Unlock()
	if stopped == 0 {
		l.bar.SetCurrent(min(row.T*1000, max(l.load.Milliseconds(), 1)))
	}
}

// Write prints p above the status (log lines, the interrupt notice).
func (l *liveProgress) Write(p []byte) (int, error) { return l.p.Write(p) }

// Stop completes the bar when the load ran to its end, and leaves it where
// the load stopped otherwise (an interrupted run, an error).
func (l *liveProgress) Stop() {
	l.mu.Lock()
	ran := l.stop.stopped == 0 && l.row.T >= int64(l.load/time.Second)
	l.mu.Unlock()
	if ran {
		l.bar.SetTotal(-1, true)
	} else {
		l.bar.Abort(false)
	}
	l.p.Wait()
}
