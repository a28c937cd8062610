package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/report"
)

func newReportCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "report RUN_DIR",
		Short:   "Render a finished run's results",
		Example: "  mqcheck report runs/quickstart-20261128-142233\n  mqcheck report runs/last --format json | jq .counts",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := report.ReadFile(filepath.Join(args[0], "results.json"))
			if err != nil {
				return usageError("%v", err)
			}
			switch format {
			case "text":
				return report.Text(cmd.OutOrStdout(), res)
			case "json":
				return report.WriteJSON(cmd.OutOrStdout(), res)
			}
			return usageError("--format %q: known formats are text, json", format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return cmd
}
