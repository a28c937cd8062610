package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/checker"
)

// processingRun is the sample run with an idempotent consumer that
// processed three messages twice.
func processingRun() *Run {
	run := sampleRun()
	r := run.Results
	r.Counts.Processed = &checker.ProcessedCounts{Effects: r.Counts.Unique + 3, Unique: r.Counts.Unique, Twice: 3}
	r.Processing = &Processing{Store: "none", Applied: r.Counts.Unique + 3}
	x := checker.Example{Anomaly: "processed_twice", Producer: 0, Seq: 7, SeqEnd: 7, Detail: "its side effect was made more than once"}
	r.Examples["processed_twice"] = []checker.Example{x}
	f := false
	r.Claims = append(r.Claims, checker.Claim{Name: "effectively-once", Verdict: checker.Fail, Holds: &f,
		Summary: "3 side effects made again", Evidence: []checker.Example{x}})
	return run
}

// TestProcessedLayer: text and HTML show received and processed side by
// side, the processed duplicates marked as what broke effectively-once.
func TestProcessedLayer(t *testing.T) {
	run := processingRun()
	var text bytes.Buffer
	if err := Text(&text, run.Results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"received and processed (side effects read back from the store)",
		"twice (duplicated / processed twice)", "processing (none store): "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text does not say %q:\n%s", want, text.String())
		}
	}
	var md bytes.Buffer
	if err := Markdown(&md, run.Results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| twice (duplicated / processed twice) | 10 | 3 |") {
		t.Errorf("markdown has no layers table:\n%s", md.String())
	}
	var html bytes.Buffer
	if err := HTML(&html, run); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	if !strings.Contains(h, "<h3>Received and processed</h3>") ||
		!strings.Contains(h, `<td class="num bad" title="breaks effectively-once">3</td>`) {
		t.Errorf("HTML has no layers table with processed twice marked as breaking effectively-once")
	}
	// A run without processing shows no layers.
	html.Reset()
	if err := HTML(&html, sampleRun()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html.String(), "Received and processed") {
		t.Error("layers shown for a run without processing")
	}
}
