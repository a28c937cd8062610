package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/scenarios"
)

func newValidateCmd(ld scenarios.Loader) *cobra.Command {
	var sets []string
	cmd := &cobra.Command{
		Use:     "validate SCENARIO",
		Short:   "Check a scenario without running it (exit 0 valid, 2 invalid)",
		Example: "  mqcheck validate scenarios/my-test.yaml\n  mqcheck validate quickstart --set producers.count=8",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScenario(ld, args[0], sets, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := checkCapacity(ld, s); err != nil {
				return err
			}
			// A backlog is read from disk: one that cannot be read is as
			// wrong as a bad field.
			if err := runner.CheckBacklog(s, ld.Kinds); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%s on %s, %s, claims %s)\n", args[0], s.Name, s.Broker.Kind,
				s.Duration, strings.Join(s.Claims, ", "))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a scenario field: path=value (repeatable)")
	cmd.ValidArgsFunction = completeScenario
	_ = cmd.RegisterFlagCompletionFunc("set", completeSetPath(ld))
	return cmd
}

func newScenariosCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "scenarios",
		Short:   "List the built-in scenarios",
		Example: "  mqcheck scenarios\n  mqcheck run quickstart --print",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			for _, b := range scenarios.Builtins() {
				fmt.Fprintf(w, "%-24s %s\n", b.Name, b.Description)
			}
			return nil
		},
	}
}
