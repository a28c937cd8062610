package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

func newCompareCmd() *cobra.Command {
	var tolerance, format string
	var perMetric []string
	o := report.DefaultCompareOptions()
	var slack scenarios.Duration
	cmd := &cobra.Command{
		Use:   "compare BASE_DIR NEW_DIR",
		Short: "Compare a run with a baseline; exit 1 when a metric regressed past its tolerance",
		Long: `compare sets a new run beside a base run: throughput, the latency curves at
many percentiles (p50 to p99.999, four points per decade of 1/(1-p)), anomaly
counts per message sent, verdicts and claims, with the change in each.

A metric regressed when it is worse than the base by more than its tolerance:
latency higher (and by more than --latency-slack), throughput lower, an anomaly
more frequent per message sent or new where the base had none, a verdict or a
claim from pass to fail. A curve point counts only when both runs have at least
10 samples above it. Exit 0: no regression; 1: regressed (the metrics are named);
2: usage error.`,
		Example: `  mqcheck compare runs/baseline runs/today
  mqcheck compare runs/baseline runs/today --tolerance 5% --tolerance-metric end_to_end.p99=20%
  mqcheck compare runs/baseline runs/today --tolerance-metric end_to_end=25% --format md >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			render := map[string]func(io.Writer, *report.Comparison) error{
				"text": report.CompareText, "md": report.CompareMarkdown, "json": report.CompareJSON,
			}[format]
			if render == nil {
				return usageError("--format %q: known formats are text, md, json", format)
			}
			t, err := report.ParseTolerance(tolerance)
			if err != nil {
				return usageError("--tolerance: %v", err)
			}
			o.Tolerance = t
			o.LatencySlack = float64(slack.D().Microseconds())
			if o.PerMetric, err = parsePerMetric(perMetric); err != nil {
				return usageError("%v", err)
			}
			base, err := report.Load(args[0])
			if err != nil {
				return usageError("base run: %v", err)
			}
			newRun, err := report.Load(args[1])
			if err != nil {
				return usageError("new run: %v", err)
			}
			c := report.Compare(base, newRun, o)
			if err := render(cmd.OutOrStdout(), c); err != nil {
				return &exitError{code: exitInfra, err: fmt.Errorf("writing the comparison: %w", err)}
			}
			if len(c.Regressed) > 0 {
				return &exitError{code: exitFail, err: fmt.Errorf("regressed: %s", strings.Join(c.Summary(), "; "))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tolerance, "tolerance", "10%", "how much worse any metric may get")
	cmd.Flags().StringArrayVar(&perMetric, "tolerance-metric", nil,
		"METRIC=TOLERANCE for one metric (end_to_end.p99=20%) or a latency series (publish=25%); repeatable")
	slack = scenarios.Duration(1000 * 1000) // 1ms
	cmd.Flags().Var(&durationFlag{&slack}, "latency-slack", "latency increases smaller than this are never a regression")
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text, md or json")
	_ = cmd.RegisterFlagCompletionFunc("format", completeValues("text", "md", "json"))
	cmd.ValidArgsFunction = completeDirs
	return cmd
}

// parsePerMetric reads METRIC=TOLERANCE pairs; an unknown metric is a usage
// error that names the closest one.
func parsePerMetric(pairs []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, kv := range pairs {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--tolerance-metric %q: want METRIC=TOLERANCE, e.g. end_to_end.p99=20%%", kv)
		}
		n, err := report.CompareMetric(name)
		if err != nil {
			return nil, fmt.Errorf("--tolerance-metric: %w", err)
		}
		t, err := report.ParseTolerance(val)
		if err != nil {
			return nil, fmt.Errorf("--tolerance-metric %s: %w", name, err)
		}
		out[n] = t
	}
	return out, nil
}

// durationFlag takes a duration with a unit, as scenarios do.
type durationFlag struct{ d *scenarios.Duration }

func (f *durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}
func (f *durationFlag) Set(s string) error {
	d, err := scenarios.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	*f.d = d
	return nil
}
func (f *durationFlag) Type() string { return "duration" }
