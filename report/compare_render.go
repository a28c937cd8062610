package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// CompareText writes a comparison for the terminal: both runs side by side,
// the change in each metric, and what regressed.
func CompareText(w io.Writer, c *Comparison) error {
	ew := &errWriter{w: w}
	ew.printf("base  %s\nnew   %s\n", describeRun(c.Base), describeRun(c.New))
	ew.printf("tolerance %s; latency changes under %s are noise; curve points need %d samples above them\n",
		pct(c.Options.Tolerance), fmtUS(int64(c.Options.LatencySlack)), c.Options.MinTail)
	for _, n := range c.Notes {
		ew.printf("note: %s\n", n)
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	section := ""
	for _, r := range c.Rows {
		if r.Section != section {
			section = r.Section
			fmt.Fprintf(tw, "\n%s\tbase\tnew\tchange\t\n", strings.ReplaceAll(section, "_", "-"))
		}
		flag := ""
		switch {
		case r.Regressed:
			flag = "REGRESSED"
			if r.Kind != "verdict" {
				flag += " (tolerance " + pct(r.Tolerance) + ")"
			}
		case r.Note != "":
			flag = r.Note
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r.Label, r.BaseText, r.NewText, r.Change, flag)
	}
	_ = tw.Flush()
	if len(c.Regressed) == 0 {
		ew.printf("\nno regression\n")
	} else {
		ew.printf("\nregressed: %s\n", strings.Join(c.Summary(), "; "))
	}
	return ew.err
}

// CompareMarkdown writes a comparison as Markdown tables, for a CI job
// summary.
func CompareMarkdown(w io.Writer, c *Comparison) error {
	ew := &errWriter{w: w}
	if len(c.Regressed) == 0 {
		ew.printf("## ✅ mqcheck compare: no regression\n\n")
	} else {
		ew.printf("## ❌ mqcheck compare: regressed\n\n%s\n\n", md(strings.Join(c.Summary(), "; ")))
	}
	ew.printf("base: %s  \nnew: %s  \ntolerance %s, latency slack %s\n\n", md(describeRun(c.Base)), md(describeRun(c.New)),
		pct(c.Options.Tolerance), fmtUS(int64(c.Options.LatencySlack)))
	for _, n := range c.Notes {
		ew.printf("> note: %s\n\n", md(n))
	}
	ew.printf("| metric | base | new | change | |\n|---|---:|---:|---:|---|\n")
	for _, r := range c.Rows {
		flag := md(r.Note)
		if r.Regressed {
			flag = "❌ regressed"
		}
		ew.printf("| %s | %s | %s | %s | %s |\n", md(r.Metric), md(r.BaseText), md(r.NewText), md(r.Change), flag)
	}
	return ew.err
}

// CompareJSON writes a comparison as JSON.
func CompareJSON(w io.Writer, c *Comparison) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Base      string       `json:"base_run_id"`
		New       string       `json:"new_run_id"`
		Tolerance float64      `json:"tolerance"`
		Regressed []string     `json:"regressed"`
		Notes     []string     `json:"notes,omitempty"`
		Rows      []CompareRow `json:"rows"`
	}{c.Base.RunID, c.New.RunID, c.Options.Tolerance, append([]string{}, c.Regressed...), c.Notes, c.Rows})
}

func describeRun(r *Results) string {
	return fmt.Sprintf("%s on %s, run %s, %s, verdict %s", r.Scenario.Name, r.Scenario.Broker, r.RunID, r.StartedAt, r.Verdict)
}

func pct(f float64) string {
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", f*100), "0"), ".0") + "%"
}
