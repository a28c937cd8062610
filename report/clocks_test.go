package report

import (
	"bytes"
	stdhtml "html"
	"strings"
	"testing"
)

// TestClockBounds: a merged run's reports show the workers' clock offsets
// next to end-to-end latency, its row labelled with the widest bound, and
// marked uncertain past ClockNoteUS or when an offset is unknown; one
// process's run (one clock) shows none of it.
func TestClockBounds(t *testing.T) {
	tests := []struct {
		name   string
		merged *Merged
		label  string   // the end-to-end row's, in every format
		want   []string // in every format
		bad    bool     // the HTML paragraph marked as an error
	}{
		{name: "one process", label: "end-to-end"},
		{name: "merged, within the bound",
			merged: &Merged{Clocks: []ClockOffset{{Worker: 1, Known: true, OffsetUS: -15, ErrorUS: 341}, {Worker: 2, Known: true, OffsetUS: 39, ErrorUS: 440}},
				EndToEndErrorUS: 440},
			label: "end-to-end ±440µs",
			want:  []string{"worker 1 -15µs ± 341µs, worker 2 +39µs ± 440µs"}},
		{name: "merged, past the bound",
			merged: &Merged{Clocks: []ClockOffset{{Worker: 1, Known: true, OffsetUS: 2500, ErrorUS: 1800}}, EndToEndErrorUS: 1800},
			label:  "end-to-end ±1.8ms (uncertain)",
			want:   []string{"worker 1 +2500µs ± 1.8ms", "uncertain: past 1.0ms"}, bad: true},
		{name: "merged, an offset unknown",
			merged: &Merged{Clocks: []ClockOffset{{Worker: 1, Known: true, ErrorUS: 300}, {Worker: 2}}, EndToEndErrorUS: -1},
			label:  "end-to-end ±? (uncertain)",
			want:   []string{"worker 2 unknown", "the error is not bounded"}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := sampleRun()
			r := run.Results
			r.Merged = tt.merged
			var text, md, html bytes.Buffer
			if err := Text(&text, r); err != nil {
				t.Fatal(err)
			}
			if err := Markdown(&md, r); err != nil {
				t.Fatal(err)
			}
			if err := HTML(&html, run); err != nil {
				t.Fatal(err)
			}
			for format, out := range map[string]string{"text": text.String(), "markdown": md.String(), "html": stdhtml.UnescapeString(html.String())} {
				if !strings.Contains(out, "  "+tt.label+" ") && !strings.Contains(out, "| "+tt.label+" |") && !strings.Contains(out, "<th>"+tt.label+"</th>") {
					t.Errorf("%s: no end-to-end row labelled %q", format, tt.label)
				}
				for _, w := range tt.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s lacks %q", format, w)
					}
				}
				if tt.merged == nil && strings.Contains(out, "timed on two clocks") {
					t.Errorf("%s: one process's run shows clocks", format)
				}
			}
			if bad := strings.Contains(html.String(), `<p class="error">end-to-end`); bad != tt.bad {
				t.Errorf("html: clock line marked as an error: %v, want %v", bad, tt.bad)
			}
		})
	}
}
