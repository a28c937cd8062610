package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart size in points: wide enough for a legend beside the data, scaled
// by the page.
const (
	chartW vg.Length = 760
	chartH vg.Length = 320
)

// palette is colour-blind safe (Okabe-Ito), in the order series are drawn.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky
	color.RGBA{0, 0, 0, 255},       // black
	color.RGBA{240, 228, 66, 255},  // yellow
}

// Translucent, so the lines show through; NRGBA because color.RGBA is
// alpha-premultiplied.
var (
	faultColor = color.NRGBA{214, 39, 40, 56}
	drainColor = color.NRGBA{120, 120, 120, 48}
)

func colorAt(i int) color.Color { return palette[i%len(palette)] }

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(4)
	// Sans serif throughout, as the page around the charts.
	sans := func(f *font.Font) { f.Typeface, f.Variant = "Liberation", "Sans" }
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		sans(f)
	}
	p.Add(plotter.NewGrid())
	return p
}

// svg renders p.
func svg(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(chartW, chartH, "svg")
	if err != nil {
		return nil, fmt.Errorf("rendering chart %q: %w", p.Title.Text, err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("rendering chart %q: %w", p.Title.Text, err)
	}
	return b.Bytes(), nil
}

// latencySeries is one latency distribution to draw.
type latencySeries struct {
	name   string
	h      *hdrhistogram.Histogram
	dashed bool
	color  int
}

// percentileChart draws latency against percentile the way HdrHistogram's
// plotter does: x is 1/(1-p) on a log axis, so 90%, 99%, 99.9% are evenly
// spaced and the tail gets the room it deserves. Latency is on a log axis
// too: a run with a fault spans milliseconds to seconds.
func percentileChart(title string, series []latencySeries) ([]byte, error) {
	p := newPlot(title, "percentile", "latency (log scale)")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	xMax, yMin, yMax := 10.0, math.Inf(1), 0.0
	for _, s := range series {
		xys := percentileCurve(s.h)
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("charting %s: %w", s.name, err)
		}
		l.LineStyle.Width = vg.Points(2)
		l.LineStyle.Color = colorAt(s.color)
		if s.dashed {
			l.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(s.name, l)
		for _, xy := range xys {
			xMax, yMin, yMax = max(xMax, xy.X), min(yMin, xy.Y), max(yMax, xy.Y)
		}
	}
	if yMax == 0 {
		return nil, nil // nothing measured: no chart
	}
	p.X.Min, p.X.Max = 1, xMax*1.5
	p.Y.Min, p.Y.Max = yMin/1.5, yMax*1.5
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Tick.Marker = durationTicks{}
	return svg(p)
}

// percentileCurve is the distribution as (1/(1-p), µs) points; the maximum
// sits at the percentile of the last sample, 1-1/count.
func percentileCurve(h *hdrhistogram.Histogram) plotter.XYs {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	var xys plotter.XYs
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		q := b.Quantile / 100
		if q >= 1 {
			continue
		}
		xys = append(xys, plotter.XY{X: 1 / (1 - q), Y: math.Max(float64(b.ValueAt), 1)})
	}
	last := float64(h.TotalCount())
	if len(xys) > 0 && xys[len(xys)-1].X >= last {
		xys = xys[:len(xys)-1]
	}
	return append(xys, plotter.XY{X: math.Max(last, 1), Y: math.Max(float64(h.Max()), 1)})
}

// percentileTicks labels decades of 1/(1-p) as percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%", "99.999999%"}
	var ts []plot.Tick
	for i, l := range labels {
		v := math.Pow(10, float64(i))
		if v > max {
			break
		}
		ts = append(ts, plot.Tick{Value: v, Label: l})
	}
	return ts
}

// durationTicks labels a log axis of microseconds at 1, 2 and 5 of each
// decade, with units.
type durationTicks struct{}

func (durationTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(math.Max(min, 1))); math.Pow(10, e) <= max; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || max/min < 100 {
				t.Label = tickUS(v)
				labelled++
			}
			ts = append(ts, t)
		}
	}
	if labelled < 2 { // a narrow range: label the ends
		ts = append(ts, plot.Tick{Value: min, Label: tickUS(min)}, plot.Tick{Value: max, Label: tickUS(max)})
	}
	return ts
}

// tickUS labels an axis value in µs with the largest unit that keeps it
// at least 1: 500µs, 2ms, 1s.
func tickUS(us float64) string {
	f := func(v float64, unit string) string { return strconv.FormatFloat(v, 'g', 3, 64) + unit }
	switch {
	case us < 1e3:
		return f(us, "µs")
	case us < 1e6:
		return f(us/1e3, "ms")
	}
	return f(us/1e6, "s")
}

// timeLine is one series of a timeline chart.
type timeLine struct {
	name string
	// value of a row; false leaves a gap (the driver could not tell).
	value func(Second) (float64, bool)
}

// timelineChart draws per-second series over the run, fault windows and
// the drain shaded behind them.
func timelineChart(title, yLabel string, durationAxis bool, r *Results, lines []timeLine) ([]byte, error) {
	if len(r.Timeline) == 0 {
		return nil, nil
	}
	p := newPlot(title, "seconds since the load started", yLabel)
	addBands(p, r)
	for i, tl := range lines {
		segs := segments(r.Timeline, tl.value)
		for j, xys := range segs {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("charting %s: %w", tl.name, err)
			}
			l.LineStyle.Width = vg.Points(1.8)
			l.LineStyle.Color = colorAt(i)
			p.Add(l)
			if j == 0 {
				p.Legend.Add(tl.name, l)
			}
		}
	}
	// Headroom above the data keeps the legend off the lines.
	top := 0.0
	for _, row := range r.Timeline {
		for _, tl := range lines {
			if v, ok := tl.value(row); ok {
				top = max(top, v)
			}
		}
	}
	p.Y.Min, p.Y.Max = 0, max(top*1.3, 1)
	p.X.Min = 0
	p.Y.Tick.Marker = countTicks{}
	if durationAxis {
		p.Y.Tick.Marker = linearDurationTicks{}
	}
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	return svg(p)
}

// linearDurationTicks are the default ticks of a linear axis of µs,
// labelled with units.
type linearDurationTicks struct{}

func (linearDurationTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = tickUS(ts[i].Value)
			if ts[i].Value == 0 {
				ts[i].Label = "0"
			}
		}
	}
	return ts
}

// countTicks are the default ticks of a linear axis of messages, labelled
// as whole numbers with thousands separators.
type countTicks struct{}

func (countTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" && ts[i].Value >= 0 && ts[i].Value == math.Trunc(ts[i].Value) {
			ts[i].Label = fmtN(uint64(ts[i].Value))
		}
	}
	return ts
}

// segments splits a series at the rows without a value.
func segments(rows []Second, value func(Second) (float64, bool)) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for _, row := range rows {
		v, ok := value(row)
		if !ok {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, plotter.XY{X: float64(row.T), Y: v})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// addBands shades each fault window and the drain.
func addBands(p *plot.Plot, r *Results) {
	last := float64(r.Timeline[len(r.Timeline)-1].T)
	loadEnd := float64(r.Scenario.DurationMS) / 1e3
	if loadEnd > 0 && last > loadEnd {
		d := &band{spans: [][2]float64{{loadEnd, last}}, color: drainColor}
		p.Add(d)
		p.Legend.Add("drain", d)
	}
	names := map[string]*band{}
	var order []string
	for _, f := range r.Faults {
		end := f.EndMS
		if end <= f.StartMS {
			end = int64(last * 1e3) // not healed before the end
		}
		b := names[f.Target]
		if b == nil {
			b = &band{color: faultColor}
			names[f.Target] = b
			order = append(order, f.Target)
		}
		b.spans = append(b.spans, [2]float64{float64(f.StartMS) / 1e3, float64(end) / 1e3})
	}
	for _, n := range order {
		p.Add(names[n])
		p.Legend.Add("fault: "+n, names[n])
	}
}

// band shades spans of the x axis across the whole height of the chart.
type band struct {
	spans [][2]float64
	color color.Color
}

func (b *band) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, s := range b.spans {
		x0, x1 := max(trX(s[0]), c.Min.X), min(trX(s[1]), c.Max.X)
		if x1 < x0+1 {
			x1 = x0 + 1
		}
		c.FillPolygon(b.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// DataRange keeps the bands inside the x axis; y is left to the data.
func (b *band) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, s := range b.spans {
		xmin, xmax = min(xmin, s[0]), max(xmax, s[1])
	}
	return xmin, xmax, 0, 0
}

func (b *band) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y},
		{X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}

// evidenceChart places each example of an anomaly on the run's time line,
// one row per kind: where lost or duplicated messages cluster against the
// fault windows.
func evidenceChart(r *Results) ([]byte, error) {
	if len(r.Timeline) == 0 || r.LoadStartNS == 0 {
		return nil, nil
	}
	var kinds []string
	for k, xs := range r.Examples {
		if len(xs) > 0 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	sort.Strings(kinds)
	p := newPlot("Anomaly examples over time", "seconds since the load started", "")
	addBands(p, r)
	for i, k := range kinds {
		var xys plotter.XYs
		for _, x := range r.Examples[k] {
			if x.At == 0 {
				continue
			}
			xys = append(xys, plotter.XY{X: float64(x.At-r.LoadStartNS) / 1e9, Y: float64(i)})
		}
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("charting %s examples: %w", k, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Color: colorAt(i + 1), Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
		p.Add(s)
	}
	p.NominalY(kinds...)
	p.X.Min = 0
	p.Y.Min, p.Y.Max = -0.7, float64(len(kinds))-0.3
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	return svg(p)
}

// throughputBars compares the rates of several runs.
func throughputBars(runs []*Run) ([]byte, error) {
	p := newPlot("Throughput by run", "", "messages per second")
	names := make([]string, len(runs))
	for i, run := range runs {
		names[i] = runLabel(run.Results)
	}
	w := vg.Points(math.Min(60, 420/float64(3*len(runs))))
	for i, f := range []struct {
		name string
		v    func(Throughput) float64
	}{
		{"sent/s", func(t Throughput) float64 { return t.SentPerS }},
		{"acked/s", func(t Throughput) float64 { return t.AckedPerS }},
		{"received/s", func(t Throughput) float64 { return t.ReceivedPerS }},
	} {
		vs := make(plotter.Values, len(runs))
		for j, run := range runs {
			vs[j] = f.v(run.Results.Throughput)
		}
		b, err := plotter.NewBarChart(vs, w)
		if err != nil {
			return nil, fmt.Errorf("charting throughput: %w", err)
		}
		b.Color = colorAt(i)
		b.LineStyle.Width = 0
		b.Offset = vg.Length(i-1) * w
		p.Add(b)
		p.Legend.Add(f.name, b)
	}
	p.NominalX(names...)
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	top := 0.0
	for _, run := range runs {
		t := run.Results.Throughput
		top = max(top, t.SentPerS, t.AckedPerS, t.ReceivedPerS)
	}
	p.Y.Min, p.Y.Max = 0, max(top*1.3, 1) // room for the legend
	p.Y.Tick.Marker = countTicks{}
	return svg(p)
}

// runLabel names a run in multi-run charts: scenario and broker.
func runLabel(r *Results) string {
	return r.Scenario.Name + " · " + r.Scenario.Broker
}
