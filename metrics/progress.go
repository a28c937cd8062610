package metrics

import (
	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/swarm"
)

// Progress is what a progress display knows of a run beyond the last
// timeline row: the end-to-end latency so far (rows carry only each
// second's) and, over the window of rows since a display last printed,
// the average rates and the window's own latency. It is not safe for
// concurrent use; a runner.Observer gets its rows one at a time.
type Progress struct {
	all, window       *hdrhistogram.Histogram
	rows              int
	sent, acked, recv float64
	last              report.Second
}

// NewProgress returns an empty Progress.
func NewProgress() *Progress {
	return &Progress{all: swarm.NewHistogram(), window: swarm.NewHistogram()}
}

// Add takes one timeline row and its interval's end-to-end histogram (nil
// when it has none).
func (p *Progress) Add(row report.Second, e2e *hdrhistogram.Histogram) {
	if e2e != nil {
		p.all.Merge(e2e)
		p.window.Merge(e2e)
	}
	p.rows++
	p.sent += row.SentPerS
	p.acked += row.AckedPerS
	p.recv += row.ReceivedPerS
	p.last = row
}

// Window is the summary of the rows since the last Reset.
type Window struct {
	// Last is the newest row; Rows how many the window holds.
	Last report.Second
	Rows int
	// Rates averaged over the window's rows.
	SentPerS, AckedPerS, ReceivedPerS float64
	// P99US is the window's end-to-end p99, P99SoFarUS the whole run's,
	// in microseconds (0 without samples).
	P99US, P99SoFarUS int64
}

// Window summarises the rows since the last Reset.
func (p *Progress) Window() Window {
	n := float64(max(p.rows, 1))
	return Window{Last: p.last, Rows: p.rows, SentPerS: p.sent / n, AckedPerS: p.acked / n, ReceivedPerS: p.recv / n,
		P99US: p.window.ValueAtQuantile(99), P99SoFarUS: p.P99SoFar()}
}

// Reset starts a new window; the latency so far stays.
func (p *Progress) Reset() {
	p.rows, p.sent, p.acked, p.recv = 0, 0, 0, 0
	p.window.Reset()
}

// P99SoFar is the end-to-end p99 of the whole run so far, in
// microseconds.
func (p *Progress) P99SoFar() int64 { return p.all.ValueAtQuantile(99) }
