package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/merge"
	"github.com/mqcheck/mqcheck/report"
)

func newMergeCmd() *cobra.Command {
	var out string
	var allowPartial, quiet bool
	cmd := &cobra.Command{
		Use:   "merge RUN_DIR... --out DIR",
		Short: "Merge the run directories of a run split across workers into one run and its verdict",
		Long: `merge combines the run directories of the workers of one run (mqcheck run
--worker I/N --run-id ID) into one run directory, as if one process had run
the whole scenario: the checker states are united (a message sent by one
worker and received by another is matched; one received by consumers of two
workers in one subscription is a duplicate), latency histograms are added
exactly, timelines second by second. Order is judged where one consumer
owns a domain: each worker's reorders are added.

Refused (exit 2): a directory given twice, workers of different runs or
scenarios, a missing worker or a partial (killed) one without
--allow-partial. Exit 0, 1 or 3 is the merged verdict's, as for run.`,
		Example: `  mqcheck merge runs/w0 runs/w1 runs/w2 --out runs/merged
  mqcheck merge /runs/w* --out /runs/merged && mqcheck report /runs/merged --format html > report.html
  mqcheck merge runs/w0 runs/w1 --out runs/partial --allow-partial   # a worker was killed: verdict unknown at best`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("--out DIR is required: the merged run directory")
			}
			m, err := merge.Dirs(args, merge.Options{AllowPartial: allowPartial})
			var ie *merge.InputError
			if errors.As(err, &ie) {
				return usageError("%v", err)
			}
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			if err := m.Write(out); err != nil {
				if errors.As(err, &ie) {
					return usageError("%v", err)
				}
				return &exitError{code: exitInfra, err: err}
			}
			res := m.Results
			for _, w := range []func(string, *report.Results) error{report.WriteHTMLFile, report.WriteJUnitFile, report.WriteMarkdownFile} {
				if err := w(out, res); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "mqcheck: not written:", err)
				}
			}
			if !quiet {
				if err := report.Text(cmd.OutOrStdout(), res); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "merged %d workers: %s\n", len(args), filepath.Join(out, "results.json"))
			}
			return exitFor(res, nil)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "the merged run directory (required; must not hold a run)")
	cmd.Flags().BoolVar(&allowPartial, "allow-partial", false, "merge killed or unfinished workers, or not every worker (the verdict is unknown at best)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	_ = cmd.RegisterFlagCompletionFunc("out", completeDirs)
	return cmd
}
