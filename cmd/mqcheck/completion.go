package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/scenarios"
)

// Shell completion is cobra's (mqcheck completion bash|zsh|fish|powershell);
// these functions give it what mqcheck's arguments and flags take.

// completeScenario offers the built-in scenarios (with their descriptions)
// and the scenario files (*.yaml, *.yml) and directories under what was
// typed, for run and validate.
func completeScenario(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, b := range scenarios.Builtins() {
		if strings.HasPrefix(b.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(b.Name, b.Description))
		}
	}
	dir := filepath.Dir(toComplete + "x") // "scen" → ".", "runs/" → "runs"
	prefix := ""
	if strings.ContainsRune(toComplete, filepath.Separator) {
		prefix = dir + string(filepath.Separator)
	}
	entries, _ := os.ReadDir(dir)
	directive := cobra.ShellCompDirectiveNoFileComp
	for _, e := range entries {
		name := prefix + e.Name()
		if !strings.HasPrefix(name, toComplete) || strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(filepath.Base(toComplete+"x"), ".") {
			continue
		}
		switch ext := filepath.Ext(name); {
		case e.IsDir():
			// A directory is a step towards a file: no space after it.
			out = append(out, name+string(filepath.Separator))
			directive |= cobra.ShellCompDirectiveNoSpace
		case ext == ".yaml" || ext == ".yml":
			out = append(out, name)
		}
	}
	return out, directive
}

// completeSetPath offers the scenario's field paths for --set, each ending
// in "=" for the value.
func completeSetPath(ld scenarios.Loader) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if strings.Contains(toComplete, "=") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, p := range ld.FieldPaths() {
			if strings.HasPrefix(p, toComplete) {
				out = append(out, p+"=")
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// completeValues offers a flag's fixed values.
func completeValues(values ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// completeDirs offers directories only (run directories, --out).
func completeDirs(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}
