package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/mqcheck/mqcheck/internal/plural"
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

// chart is one figure of a page, built but not drawn yet: the charts of a
// page are drawn together (drawAligned) so that their plot areas line up.
type chart struct {
	id, title, caption string
	p                  *plot.Plot
}

// drawAligned draws charts with one left and one right margin, the widest
// any of them needs, so that every plot area spans the same points: charts
// that share an x range (every time chart of a run) then show the same
// second, and the same fault window, at the same place on the page.
func drawAligned(cs []chart) ([]htmlChart, error) {
	full := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: chartW, Y: chartH}}}
	// A little room on the right at least, so the data never touches the
	// frame.
	left, right := vg.Length(0), vg.Points(12)
	for _, c := range cs {
		l, r := dataMargins(c.p, full)
		left, right = max(left, l), max(right, r)
	}
	var out []htmlChart
	for _, c := range cs {
		cropL, cropR := cropFor(c.p, full, left, right)
		img := vgsvg.New(chartW, chartH)
		dc := draw.New(img)
		dc.SetColor(color.White)
		dc.Fill(dc.Rectangle.Path())
		c.p.Draw(draw.Crop(dc, cropL, -cropR, 0, 0))
		var b bytes.Buffer
		if _, err := img.WriteTo(&b); err != nil {
			return nil, fmt.Errorf("rendering chart %q: %w", c.title, err)
		}
		out = appendChart(out, c.id, c.title, c.caption, b.Bytes())
	}
	return out, nil
}

// dataMargins are the room p leaves left and right of its plot area on c:
// axis, tick labels, and padding for glyphs at the edges.
func dataMargins(p *plot.Plot, c draw.Canvas) (left, right vg.Length) {
	d := p.DataCanvas(c)
	return d.Min.X - c.Min.X, c.Max.X - d.Max.X
}

// cropFor finds how much to crop off full, left and right, for p's plot
// area to start at left and end at right. The room p needs moves a little
// with the canvas (padding for glyphs scales with the width), so it is
// measured again until it stays put.
func cropFor(p *plot.Plot, full draw.Canvas, left, right vg.Length) (cropL, cropR vg.Length) {
	l, r := dataMargins(p, full)
	cropL, cropR = left-l, right-r
	for range 8 {
		l, r = dataMargins(p, draw.Crop(full, cropL, -cropR, 0, 0))
		errL, errR := left-(cropL+l), right-(cropR+r)
		if math.Abs(float64(errL)) < 0.01 && math.Abs(float64(errR)) < 0.01 {
			break
		}
		cropL, cropR = cropL+errL, cropR+errR
	}
	return cropL, cropR
}

// headroom is the factor of the data's top that leaves room for a legend
// of n entries above it, inside the plot.
func headroom(n int) float64 { return 1 / (1 - 0.03 - 0.055*float64(n)) }

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
// too: a run with a fault spans milliseconds to seconds. The axis ends at a
// labelled value above the slowest sample, so the top decade is read off
// the axis rather than guessed. Nil when nothing was measured.
func percentileChart(title string, series []latencySeries) (*plot.Plot, error) {
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
	// The legend sits top left, where the curves are lowest: the room
	// above the slowest sample only keeps the maximum off the frame.
	p.Y.Min, p.Y.Max = yMin/1.5, niceAbove(yMax*1.2)
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Tick.Marker = durationTicks{}
	return p, nil
}

// niceAbove is the smallest 1, 2 or 5 times a power of ten at or above v.
func niceAbove(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Floor(math.Log10(v))
	for {
		for _, m := range []float64{1, 2, 5} {
			if n := m * math.Pow(10, e); n >= v*(1-1e-9) {
				return n
			}
		}
		e++
	}
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

// durationTicks marks a log axis of microseconds at 1, 2 and 5 of each
// decade and labels the decades and the top tick, with units.
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
			// Decades, every tick of a narrow range, and the top tick
			// (the axis ends on one), so the slowest samples are read
			// off a label.
			if m == 1 || max/min < 100 || v*2 > max {
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

// timeSpan is the x range every time chart of a run shares, in seconds
// since the load started: from 0 to the last timeline row, the end of the
// load or the latest example, whichever is last.
func timeSpan(r *Results) (lo, hi float64) {
	if len(r.Timeline) == 0 {
		return 0, 0
	}
	hi = max(float64(r.Timeline[len(r.Timeline)-1].T), float64(r.Scenario.DurationMS)/1e3)
	for _, xs := range r.Examples {
		for _, x := range xs {
			if x.At != 0 && r.LoadStartNS != 0 {
				hi = max(hi, math.Ceil(float64(x.At-r.LoadStartNS)/1e9))
			}
		}
	}
	return 0, hi
}

// newTimePlot is a chart over the run's time line: the shared x range, the
// fault windows and the drain shaded behind the data, the legend top right.
func newTimePlot(r *Results, title, yLabel string) *plot.Plot {
	p := newPlot(title, "seconds since the load started", yLabel)
	addBands(p, r)
	p.X.Min, p.X.Max = timeSpan(r)
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	return p
}

// timeLine is one series of a timeline chart.
type timeLine struct {
	name string
	// value of a row; false leaves a gap (the driver could not tell).
	value func(Second) (float64, bool)
	// color indexes the palette; dashed draws it dashed.
	color  int
	dashed bool
}

// timelineChart draws per-second series over the run, fault windows and
// the drain shaded behind them. Nil without a timeline.
func timelineChart(title, yLabel string, durationAxis bool, r *Results, lines []timeLine) (*plot.Plot, error) {
	if len(r.Timeline) == 0 {
		return nil, nil
	}
	p := newTimePlot(r, title, yLabel)
	top := 0.0
	for _, tl := range lines {
		for j, xys := range segments(r.Timeline, tl.value) {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("charting %s: %w", tl.name, err)
			}
			l.LineStyle.Width = vg.Points(1.8)
			l.LineStyle.Color = colorAt(tl.color)
			if tl.dashed {
				l.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			}
			p.Add(l)
			if j == 0 {
				p.Legend.Add(tl.name, l)
			}
			for _, xy := range xys {
				top = max(top, xy.Y)
			}
		}
	}
	// Headroom above the data keeps the legend off the lines.
	p.Y.Min, p.Y.Max = 0, max(top*headroom(len(lines)+bandEntries(r)), 1)
	p.Y.Tick.Marker = countTicks{}
	if durationAxis {
		p.Y.Tick.Marker = linearDurationTicks{}
	}
	return p, nil
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

// targetRate is the load's mean target rate in messages per second; false
// for a closed-loop run (rate max), which has none. Results written before
// the load section read it from the scenario's fixed rate.
func targetRate(r *Results) (float64, bool) {
	if r.Load.Mode != "" {
		return r.Load.TargetPerS, r.Load.TargetPerS > 0
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(r.Scenario.Rate, "/s"), 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// rateChart sets what the producers sent each second against the rate the
// load asked for (each second's own target when the load has a shape):
// below the line, intended sends were late or never made. Nil for a
// closed-loop run, which has no target, or without a timeline.
func rateChart(r *Results) (*plot.Plot, error) {
	target, ok := targetRate(r)
	if !ok || len(r.Timeline) == 0 {
		return nil, nil
	}
	p, err := timelineChart("Target and achieved rate", "messages per second", false, r, []timeLine{
		{name: "sent/s", value: func(s Second) (float64, bool) { return s.SentPerS, true }},
	})
	if err != nil {
		return nil, err
	}
	end := float64(r.Scenario.DurationMS) / 1e3
	if r.Load.EndedMS > 0 {
		end = float64(r.Load.EndedMS) / 1e3
	}
	xys := plotter.XYs{{X: 0, Y: target}, {X: end, Y: target}}
	top := target
	if shaped := shapedTarget(r.Timeline); shaped != nil {
		xys, top = shaped, 0
		for _, xy := range shaped {
			top = max(top, xy.Y)
		}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, fmt.Errorf("charting the target rate: %w", err)
	}
	l.LineStyle.Width = vg.Points(1.5)
	l.LineStyle.Color = color.Black
	l.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(l)
	name := "target " + fmtRate(target)
	if r.Load.Mode == LoadStages || r.Load.Mode == LoadFindMax {
		name = "target (" + r.Load.Mode + ")"
	}
	p.Legend.Add(name, l)
	p.Y.Max = max(p.Y.Max, top*headroom(2+bandEntries(r)))
	return p, nil
}

// shapedTarget is the per-second target of a load whose rate changes
// (rows carry it), nil when the rows do not or it never changes.
func shapedTarget(rows []Second) plotter.XYs {
	var xys plotter.XYs
	varies := false
	for _, row := range rows {
		if row.TargetPerS <= 0 {
			continue
		}
		if len(xys) > 0 && xys[len(xys)-1].Y != row.TargetPerS {
			varies = true
		}
		xys = append(xys, plotter.XY{X: float64(row.T), Y: row.TargetPerS})
	}
	if !varies {
		return nil
	}
	return xys
}

// rateSummary says in one line how close the run came to its target rate,
// or that it had none: from the load's exact counts (intended sends, not
// sent) when the results have them.
func rateSummary(r *Results) string {
	if r.Load.Mode != "" {
		return loadLine(r.Load)
	}
	target, ok := targetRate(r)
	if !ok {
		return fmt.Sprintf("closed loop (rate %s): no target rate, producers sent as fast as the broker confirmed, %s on average",
			r.Scenario.Rate, fmtRate(r.Throughput.SentPerS))
	}
	intended := uint64(target*float64(r.Scenario.DurationMS)/1e3 + 0.5)
	line := fmt.Sprintf("target %s, sent %s on average (%.1f%%): %s of %s intended sends made",
		fmtRate(target), fmtRate(r.Throughput.SentPerS), 100*r.Throughput.SentPerS/target,
		fmtN(min(r.Counts.Sent, intended)), fmtN(intended))
	if intended > r.Counts.Sent {
		line += fmt.Sprintf(", %s never made", fmtN(intended-r.Counts.Sent))
	}
	return line
}

// timelineKinds are the anomalies the timeline counts per second, in the
// order they are drawn.
var timelineKinds = []struct {
	name  string
	count func(Second) uint64
}{
	{"duplicated", func(s Second) uint64 { return s.Duplicated }},
	{"reordered", func(s Second) uint64 { return s.Reordered }},
	{"corrupted", func(s Second) uint64 { return s.Corrupted }},
	{"unexpected", func(s Second) uint64 { return s.Unexpected }},
	{"indeterminate", func(s Second) uint64 { return s.Indeterminate }},
}

// anomalyKinds are the kinds the charts of a run style, the lost first.
var anomalyKinds = []string{"lost", "duplicated", "reordered", "corrupted", "unexpected", "indeterminate",
	"unaccounted", "phantom", "recovered", "aborted_read"}

// anomalyChart draws each anomaly kind's count so far as a step over the
// run, with a mark at each second it grew: a burst of thousands of
// duplicates is one tall step, a single reorder a mark on the floor. Kinds
// that broke a claim are red; those the claims allow are not. Loss is only
// known after the drain, so it is not here. Nil without a timeline.
func anomalyChart(r *Results, styles map[string]kindStyle) (*plot.Plot, error) {
	if len(r.Timeline) == 0 {
		return nil, nil
	}
	p := newTimePlot(r, "Anomalies by kind, so far", "messages")
	// Each series is its count in every row of the timeline.
	type series struct {
		name  string
		style kindStyle
		rows  []uint64
	}
	var ss []series
	var perKind uint64
	for _, k := range timelineKinds {
		rows, n := make([]uint64, len(r.Timeline)), uint64(0)
		for i, row := range r.Timeline {
			rows[i] = k.count(row)
			n += rows[i]
		}
		if k.name != "indeterminate" {
			perKind += n
		}
		if n > 0 {
			ss = append(ss, series{k.name, styles[k.name], rows})
		}
	}
	last := r.Timeline[len(r.Timeline)-1]
	if perKind == 0 && last.Anomalies > 0 {
		// Results from before the timeline counted each kind: one line
		// for the running total, red if any of its kinds broke a claim.
		st := kindStyle{color: allowedColors[0], glyph: draw.CircleGlyph{}}
		for _, k := range []string{"duplicated", "reordered", "corrupted", "unexpected"} {
			if b := brokenBy(r, k); len(b) > 0 {
				st = kindStyle{color: brokeColors[0], glyph: draw.CircleGlyph{}, broke: b}
			}
		}
		rows, prev := make([]uint64, len(r.Timeline)), uint64(0)
		for i, row := range r.Timeline {
			rows[i], prev = row.Anomalies-min(prev, row.Anomalies), row.Anomalies
		}
		ss = append(ss, series{"duplicated + reordered + corrupted + unexpected", st, rows})
	}
	top := 0.0
	for _, s := range ss {
		steps := plotter.XYs{{X: 0, Y: 0}}
		var marks plotter.XYs
		total := uint64(0)
		for i, row := range r.Timeline {
			n := s.rows[i]
			total += n
			steps = append(steps, plotter.XY{X: float64(row.T), Y: float64(total)})
			if n > 0 {
				marks = append(marks, plotter.XY{X: float64(row.T), Y: float64(total)})
			}
		}
		l, err := plotter.NewLine(steps)
		if err != nil {
			return nil, fmt.Errorf("charting %s: %w", s.name, err)
		}
		// The count of a row is what the checker had seen by its end.
		l.StepStyle = plotter.PostStep
		l.LineStyle.Width = vg.Points(1.8)
		l.LineStyle.Color = s.style.color
		sc, err := plotter.NewScatter(marks)
		if err != nil {
			return nil, fmt.Errorf("charting %s: %w", s.name, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: s.style.color, Radius: vg.Points(3), Shape: s.style.glyph}
		p.Add(l, sc)
		p.Legend.Add(fmt.Sprintf("%s %s, %s", s.name, fmtN(total), allowedOrBroke(s.style)), l, sc)
		top = max(top, float64(total))
	}
	if len(ss) == 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: float64(last.T), Y: 0}})
		if err != nil {
			return nil, fmt.Errorf("charting anomalies: %w", err)
		}
		l.LineStyle.Width = vg.Points(1.8)
		l.LineStyle.Color = allowedColors[1]
		p.Add(l)
		p.Legend.Add("none seen while the run went", l)
	}
	p.Y.Min, p.Y.Max = 0, max(top*headroom(max(len(ss), 1)+bandEntries(r)), 1)
	p.Y.Tick.Marker = countTicks{}
	return p, nil
}

// allowedOrBroke says whether a kind broke a claim, for a legend.
func allowedOrBroke(s kindStyle) string {
	if len(s.broke) == 0 {
		return "allowed by the claims"
	}
	return "breaks " + strings.Join(s.broke, ", ")
}

// bandEntries is how many legend entries addBands adds.
func bandEntries(r *Results) int {
	n := 0
	if len(r.Timeline) > 0 && r.Scenario.DurationMS > 0 && float64(r.Timeline[len(r.Timeline)-1].T) > float64(r.Scenario.DurationMS)/1e3 {
		n++
	}
	seen := map[string]bool{}
	for _, f := range r.Faults {
		if !seen[f.Target] {
			seen[f.Target] = true
			n++
		}
	}
	return n
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

// evidenceChart places each kept example of an anomaly on the run's time
// line, one row per kind: where lost or duplicated messages cluster
// against the fault windows. The legend says how many of how many were
// kept, since a thousand duplicates of one second are one dot here.
func evidenceChart(r *Results, styles map[string]kindStyle) (*plot.Plot, error) {
	if len(r.Timeline) == 0 || r.LoadStartNS == 0 {
		return nil, nil
	}
	var kinds, others []string
	for _, k := range anomalyKinds {
		if len(r.Examples[k]) > 0 {
			kinds = append(kinds, k)
		}
	}
	for k, xs := range r.Examples {
		if len(xs) > 0 && !slices.Contains(anomalyKinds, k) {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	kinds = append(kinds, others...)
	if len(kinds) == 0 {
		return nil, nil
	}
	p := newTimePlot(r, "Anomaly examples over time", "")
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
		st, ok := styles[k]
		if !ok {
			st = kindStyle{color: allowedColors[i%len(allowedColors)], glyph: draw.CircleGlyph{}}
		}
		s.GlyphStyle = draw.GlyphStyle{Color: st.color, Radius: vg.Points(3.5), Shape: st.glyph}
		p.Add(s)
		label := fmt.Sprintf("%s: %s", k, plural.Of(len(r.Examples[k]), "example"))
		if n, ok := countValue(r.Counts, k); ok && uint64(n) > uint64(len(r.Examples[k])) {
			label = fmt.Sprintf("%s: %s of %s", k, plural.Of(len(r.Examples[k]), "example"), fmtN(uint64(n)))
		}
		p.Legend.Add(label, s)
	}
	p.NominalY(kinds...)
	// Room above the rows for the legend.
	p.Y.Min = -0.7
	p.Y.Max = p.Y.Min + float64(len(kinds))*headroom(len(kinds)+bandEntries(r))
	return p, nil
}

// throughputBars compares the rates of several runs: a group of bars per
// run, each group inside its own slot of the x axis.
func throughputBars(runs []*Run, labels []string) (*plot.Plot, error) {
	p := newPlot("Throughput by run", "", "messages per second")
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
	// A label per line of its parts, so that long ones (a run id) stay
	// under their own group.
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = strings.ReplaceAll(l, " · ", "\n")
	}
	p.NominalX(names...)
	if len(runs) > 4 {
		p.X.Tick.Label.Font.Size = vg.Points(8)
	}
	// Each run gets a slot one unit wide: a group never reaches the frame,
	// and the first label has half a slot to its left, so the axis needs
	// no padding for it.
	p.X.Min, p.X.Max = -0.5, float64(len(runs))-0.5
	p.Y.Padding = plot.New().Y.Padding
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	top := 0.0
	for _, run := range runs {
		t := run.Results.Throughput
		top = max(top, t.SentPerS, t.AckedPerS, t.ReceivedPerS)
	}
	p.Y.Min, p.Y.Max = 0, max(top*headroom(3), 1) // room for the legend
	p.Y.Tick.Marker = countTicks{}
	return p, nil
}

// runLabels name runs on a page of several: the label given (--label),
// else scenario and broker (the scenario alone where a table has a broker
// column), with the run id where two runs of one scenario on one broker
// would read the same, and a number where even that does not tell them
// apart.
func runLabels(runs []*Run, broker bool) []string {
	out := make([]string, len(runs))
	seen := map[string]int{}
	for _, run := range runs {
		seen[run.Results.Scenario.Name+" · "+run.Results.Scenario.Broker]++
	}
	for i, run := range runs {
		s := run.Results.Scenario
		switch {
		case run.Label != "":
			out[i] = run.Label
			continue
		case broker:
			out[i] = s.Name + " · " + s.Broker
		default:
			out[i] = s.Name
		}
		if seen[s.Name+" · "+s.Broker] > 1 && run.Results.RunID != "" {
			out[i] += " · run " + run.Results.RunID
		}
	}
	// What a reader sees of a run: its label, and its broker where the
	// label leaves it out.
	key := func(i int) string {
		if broker || runs[i].Label != "" {
			return out[i]
		}
		return out[i] + " · " + runs[i].Results.Scenario.Broker
	}
	n := map[string]int{}
	for i := range out {
		n[key(i)]++
	}
	k := map[string]int{}
	for i := range out {
		if kk := key(i); n[kk] > 1 {
			k[kk]++
			out[i] = fmt.Sprintf("%s (%d)", out[i], k[kk])
		}
	}
	return out
}
