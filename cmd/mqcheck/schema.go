package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/scenarios"
)

func newSchemaCmd(ld scenarios.Loader) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of scenario files, for editors",
		Long: `Print the JSON Schema of scenario files (generated from mqcheck's Go types).
YAML editors with the YAML language server (VS Code's YAML extension, Neovim,
Helix, JetBrains) complete and check a scenario whose first line is

  ` + scenarios.Modeline + `

or, offline, points at a local copy:

  # yaml-language-server: $schema=./scenario.schema.json`,
		Example: "  mqcheck schema > scenario.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			schema, err := ld.JSONSchema()
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			_, err = cmd.OutOrStdout().Write(schema)
			return err
		},
	}
}

// printScenario writes a resolved scenario as YAML for the user to copy and
// edit: secrets masked, and a first line that gives editors the schema.
func printScenario(ld scenarios.Loader, w io.Writer, s *scenarios.Scenario) error {
	y, err := ld.Marshal(s.Redacted())
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	if _, err := fmt.Fprintf(w, "%s\n%s", scenarios.Modeline, y); err != nil {
		return fmt.Errorf("printing the scenario: %w", err)
	}
	return nil
}
