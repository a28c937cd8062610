package metrics

import (
	"github.com/HdrHistogram/hdrhistogram-go"

	"testing"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/swarm"
)

func TestProgressWindows(t *testing.T) {
	p := NewProgress()
	hist := func(us ...int64) *hdrhistogram.Histogram {
		h := swarm.NewHistogram()
		for _, v := range us {
			_ = h.RecordValue(v)
		}
		return h
	}
	p.Add(report.Second{T: 1, SentPerS: 100, AckedPerS: 90, ReceivedPerS: 80}, hist(1000))
	p.Add(report.Second{T: 2, SentPerS: 300, AckedPerS: 310, ReceivedPerS: 320}, hist(50000))
	w := p.Window()
	if w.Rows != 2 || w.Last.T != 2 || w.SentPerS != 200 || w.AckedPerS != 200 || w.ReceivedPerS != 200 {
		t.Errorf("window %+v: want 2 rows averaging 200/s", w)
	}
	if w.P99US < 49000 || w.P99SoFarUS != w.P99US {
		t.Errorf("p99 %d, so far %d: want ~50ms both", w.P99US, w.P99SoFarUS)
	}
	p.Reset()
	p.Add(report.Second{T: 3, SentPerS: 10}, hist(2000))
	w = p.Window()
	if w.Rows != 1 || w.SentPerS != 10 || w.P99US > 2100 || w.P99SoFarUS < 49000 {
		t.Errorf("after Reset %+v: the window starts again, the run's latency stays", w)
	}
	p.Reset()
	if w := p.Window(); w.Rows != 0 || w.SentPerS != 0 || w.P99US != 0 {
		t.Errorf("empty window %+v", w)
	}
}
