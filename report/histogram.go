package report

import (
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// EncodeHistogram returns h in HdrHistogram's V2 compressed encoding, in
// base64: the form .hlog lines use, so results.json and the interval logs
// hold the same bytes and every HdrHistogram tool reads them.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encoding a latency histogram: %w", err)
	}
	return string(b), nil
}

// DecodeHistogram reads what EncodeHistogram wrote.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decoding a latency histogram: %w", err)
	}
	return h, nil
}

// Histogram returns the whole-run histogram behind a latency summary, or
// nil when the results carry none (written before histograms were kept).
func (l Latency) Histogram() (*hdrhistogram.Histogram, error) {
	if l.HDR == "" {
		return nil, nil
	}
	return DecodeHistogram(l.HDR)
}

// emptyLike returns an empty histogram with h's range and precision, so
// merging into it never clamps or drops a value.
func emptyLike(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	return hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
}

// subtract returns whole minus part, count by count, or an error when part
// holds something whole does not: the two must share a geometry.
func subtract(whole, part *hdrhistogram.Histogram) (*hdrhistogram.Histogram, error) {
	w, p := whole.Export(), part.Export()
	if w.LowestTrackableValue != p.LowestTrackableValue || w.HighestTrackableValue != p.HighestTrackableValue ||
		w.SignificantFigures != p.SignificantFigures || len(w.Counts) != len(p.Counts) {
		return nil, fmt.Errorf("histograms of different ranges or precision")
	}
	for i, c := range p.Counts {
		if c > w.Counts[i] {
			return nil, fmt.Errorf("the interval log holds values the whole-run histogram does not")
		}
		w.Counts[i] -= c
	}
	return hdrhistogram.Import(w), nil
}
