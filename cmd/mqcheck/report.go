package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
)

// runFiles are the files every run writes besides results.json: the
// latency interval logs as the run goes, then report.html, junit.xml,
// summary.md and the .hgrm distributions.
func runFiles(dir string) (runner.Observer, []runner.Writer) {
	lat := report.NewLatencyLog(dir)
	// The latency log comes first: it closes the interval logs before
	// anything reads them.
	return lat, []runner.Writer{lat.Finish, report.WriteHTMLFile, report.WriteJUnitFile, report.WriteMarkdownFile}
}

// reportFormatNames are reportFormats' keys, in the order help lists them.
var reportFormatNames = []string{"text", "json", "md", "junit", "html"}

var reportFormats = map[string]func(io.Writer, *report.Run) error{
	"text":  func(w io.Writer, r *report.Run) error { return report.Text(w, r.Results) },
	"json":  func(w io.Writer, r *report.Run) error { return report.WriteJSON(w, r.Results) },
	"md":    func(w io.Writer, r *report.Run) error { return report.Markdown(w, r.Results) },
	"junit": func(w io.Writer, r *report.Run) error { return report.JUnit(w, r.Results) },
	"html":  report.HTML,
}

func newReportCmd() *cobra.Command {
	var format string
	var labels []string
	cmd := &cobra.Command{
		Use:   "report RUN_DIR [RUN_DIR...]",
		Short: "Render finished runs: text, json, md, junit, html; several runs side by side (html, md)",
		Example: `  mqcheck report runs/quickstart-20261128-142233
  mqcheck report runs/last --format json | jq .counts
  mqcheck report runs/last --format html > report.html
  mqcheck report runs/last --format md >> "$GITHUB_STEP_SUMMARY"
  mqcheck report runs/kafka runs/rabbitmq                               # side by side, a table
  mqcheck report runs/kafka runs/rabbitmq --format html > brokers.html   # side by side, with charts
  mqcheck report runs/a runs/b --label "kafka 3.7" --label "kafka 3.8" --format html > versions.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format == "" {
				// Several runs read best as one table, in a terminal too.
				format = "text"
				if len(args) > 1 {
					format = "md"
				}
			}
			render, ok := reportFormats[format]
			if !ok {
				return usageError("--format %q: known formats are %s", format, strings.Join(reportFormatNames, ", "))
			}
			if len(args) > 1 && format != "html" && format != "md" {
				return usageError("--format %s renders one run; several runs side by side take --format html or md", format)
			}
			if len(labels) > 0 && len(labels) != len(args) {
				return usageError("--label names each run: %d labels for %d runs", len(labels), len(args))
			}
			var runs []*report.Run
			for i, dir := range args {
				run, err := report.Load(dir)
				if err != nil {
					return usageError("%v", err)
				}
				if len(labels) > 0 {
					run.Label = labels[i]
				}
				runs = append(runs, run)
			}
			var err error
			switch {
			case len(runs) == 1:
				err = render(cmd.OutOrStdout(), runs[0])
			case format == "html":
				err = report.HTMLRuns(cmd.OutOrStdout(), runs)
			default:
				err = report.MarkdownRuns(cmd.OutOrStdout(), runs)
			}
			if err != nil {
				return &exitError{code: exitInfra, err: fmt.Errorf("rendering the report: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "text, json, md, junit or html (default text for one run, md for several)")
	_ = cmd.RegisterFlagCompletionFunc("format", completeValues(reportFormatNames...))
	_ = cmd.RegisterFlagCompletionFunc("label", cobra.NoFileCompletions)
	cmd.ValidArgsFunction = completeDirs
	cmd.Flags().StringArrayVar(&labels, "label", nil,
		"name of each run on a side-by-side page, in the order of the directories (default: scenario and broker, with the run id where two are alike); repeatable")
	return cmd
}
