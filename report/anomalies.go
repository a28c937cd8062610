package report

import (
	"image/color"
	"slices"

	"gonum.org/v1/plot/vg/draw"

	"github.com/mqcheck/mqcheck/checker"
)

// claimForbids are the anomalies each claim fails on, as the checker
// decides them (TestClaimForbidsAgreesWithChecker holds the two together);
// corrupted and unexpected messages fail every claim.
var claimForbids = map[string][]string{
	"at-least-once": {"lost"},
	"at-most-once":  {"duplicated"},
	"exactly-once":  {"lost", "duplicated"},
	"ordered":       {"reordered"},
}

// brokenBy names the failed claims an anomaly kind broke: none when the run
// has none of it, or when its claims allow it (duplicates under
// at-least-once). A claim this table does not know counts the kinds of its
// evidence.
func brokenBy(r *Results, kind string) []string {
	if n, ok := countValue(r.Counts, kind); !ok || n == 0 {
		return nil
	}
	var out []string
	for _, c := range r.Claims {
		if c.Verdict != checker.Fail {
			continue
		}
		breaks := kind == "corrupted" || kind == "unexpected" || slices.Contains(claimForbids[c.Name], kind) ||
			slices.ContainsFunc(c.Evidence, func(x checker.Example) bool { return x.Anomaly == kind })
		if breaks {
			out = append(out, c.Name)
		}
	}
	return out
}

// kindStyle is how the charts draw one anomaly kind: red when it broke a
// claim, a calm colour when the claims allow it, so that a passing run
// shows no red.
type kindStyle struct {
	color color.Color
	glyph draw.GlyphDrawer
	// broke names the claims it broke; empty when allowed.
	broke []string
}

// Reds for kinds that broke a claim; the others for kinds the claims allow.
// Okabe-Ito where it has them, so the charts stay colour-blind safe.
var (
	brokeColors = []color.Color{
		color.RGBA{207, 34, 46, 255}, // the page's fail red
		color.RGBA{213, 94, 0, 255},  // vermillion
		color.RGBA{128, 0, 0, 255},   // maroon
	}
	allowedColors = []color.Color{
		color.RGBA{0, 114, 178, 255},   // blue
		color.RGBA{0, 158, 115, 255},   // green
		color.RGBA{204, 121, 167, 255}, // purple
		color.RGBA{86, 180, 233, 255},  // sky
		color.RGBA{0, 0, 0, 255},       // black
	}
	kindGlyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{},
		draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}}
)

// kindStyles styles the kinds given, in their order: each kind keeps its
// colour and glyph in every chart of the run.
func kindStyles(r *Results, kinds []string) map[string]kindStyle {
	out := map[string]kindStyle{}
	var nBroke, nAllowed int
	for i, k := range kinds {
		s := kindStyle{glyph: kindGlyphs[i%len(kindGlyphs)], broke: brokenBy(r, k)}
		if len(s.broke) > 0 {
			s.color = brokeColors[nBroke%len(brokeColors)]
			nBroke++
		} else {
			s.color = allowedColors[nAllowed%len(allowedColors)]
			nAllowed++
		}
		out[k] = s
	}
	return out
}
