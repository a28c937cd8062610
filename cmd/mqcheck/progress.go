package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/report"
)

// lineProgress prints one line per second of the run.
type lineProgress struct {
	w     io.Writer
	total time.Duration // the load phase
}

func (p *lineProgress) Second(row report.Second, _, _ *hdrhistogram.Histogram) {
	total := int64(p.total / time.Second)
	phase := fmt.Sprintf("%3ds/%ds", row.T, total)
	if row.T > total {
		phase = fmt.Sprintf("drain +%ds", row.T-total)
	}
	line := fmt.Sprintf("%s  sent %7.0f/s  acked %7.0f/s  recv %7.0f/s  in-flight %5d  lag %5d  p99 e2e %s  anomalies %d",
		phase, row.SentPerS, row.AckedPerS, row.ReceivedPerS, row.InFlight, row.Lag, fmtUS(row.E2EP99US), row.Anomalies)
	if len(row.Faults) > 0 {
		line += "  FAULT: " + strings.Join(row.Faults, ", ")
	}
	fmt.Fprintln(p.w, line)
}

func fmtUS(us int64) string {
	switch {
	case us == 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.1fms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.1fs", float64(us)/1e6)
}
