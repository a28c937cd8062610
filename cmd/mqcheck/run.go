package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/machine"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/scenarios"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it, toolVersion reads what the Go toolchain stamped in.
var version = "dev"

// newRootCmd is the CLI for the broker kinds ld knows (the zero Loader:
// kinds.Default(), the build's list).
func newRootCmd(ld scenarios.Loader) *cobra.Command {
	root := &cobra.Command{
		Use:   "mqcheck",
		Short: "Load-test message brokers and verify their delivery guarantees",
		Long: `mqcheck drives a broker with producers and consumers, checks every message
(lost, duplicated, reordered, corrupted), measures latency, and ends in a verdict.

Exit codes: 0 every claim held, 1 a claim failed, 2 usage or scenario error,
3 infrastructure error, interrupted, or undecided (verdict unknown).

Brokers (broker.kind):
` + kindList(ld),
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       toolVersion(),
	}
	root.SetVersionTemplate("mqcheck {{.Version}}\n")
	root.AddCommand(newRunCmd(ld), newValidateCmd(ld), newScenariosCmd(), newReportCmd(), newCompareCmd(), newMergeCmd(), newK8sCmd(ld), newVersionCmd(), newSchemaCmd(ld))
	return root
}

// kindList is one line per broker kind: its name, targets and description.
func kindList(ld scenarios.Loader) string {
	var b strings.Builder
	for _, k := range ld.KindList() {
		fmt.Fprintf(&b, "  %-10s %s (targets: %s)\n", k.Name, k.Description, strings.Join(k.Targets, ", "))
	}
	return b.String()
}

func newRunCmd(ld scenarios.Loader) *cobra.Command {
	var out, backlogDir string
	var sets []string
	var print, force, asJSON bool
	var watch watchFlags
	var wf workerFlags
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario file or a built-in scenario",
		Example: `  mqcheck run quickstart                       # the built-in default (embedded Kafka)
  mqcheck run scenarios/my-test.yaml --out runs/today
  mqcheck run quickstart --set producers.rate=5k/s --set duration=30s
  mqcheck run quickstart --print > my-test.yaml   # copy a built-in to edit it
  # producer-only, then consumer-only against the backlog it left:
  mqcheck run produce.yaml --out runs/produce     # consumers.count: 0, broker.keep: true
  mqcheck run consume.yaml --backlog runs/produce # producers.count: 0
  mqcheck run soak.yaml --metrics-addr 127.0.0.1:9464 --progress plain --log-format json

  # one run split across 3 workers (each on its own machine), then merged:
  mqcheck run big.yaml --worker 0/3 --run-id nightly-42 --start-at 2026-12-03T15:00:00Z --out w0
  mqcheck merge w0 w1 w2 --out merged
  # in a Kubernetes Indexed Job, the index comes from $JOB_COMPLETION_INDEX:
  mqcheck run /scenario/big.yaml --workers 3 --run-id nightly-42 --out /runs/w$JOB_COMPLETION_INDEX`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := watch.check(); err != nil {
				return err
			}
			if print && asJSON {
				return usageError("--print and --json contradict each other: --print runs nothing")
			}
			worker, err := wf.parse(os.Getenv)
			if err != nil {
				return err
			}
			notes := cmd.ErrOrStderr()
			if watch.quiet {
				notes = io.Discard
			}
			if backlogDir != "" {
				// As the scenario field: one way in, one check.
				sets = append(sets, "consumers.backlog="+backlogDir)
			}
			s, err := loadScenario(ld, args[0], sets, notes)
			if err != nil {
				return err
			}
			if err := checkBacklogOut(s.Consumers.Backlog, out); err != nil {
				return err
			}
			if print {
				return printScenario(ld, cmd.OutOrStdout(), s)
			}
			if err := checkCapacity(ld, s); err != nil {
				return err
			}
			if err := checkWorker(s, worker); err != nil {
				return err
			}
			if err := runner.CheckBacklog(s, ld.Kinds); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			named := out == ""
			if out, err = makeRunDir(out, force, s.Name, time.Now()); err != nil {
				return err
			}
			stdout := cmd.OutOrStdout()
			// With --json, stdout carries the results document alone.
			display := stdout
			if asJSON {
				display = cmd.ErrOrStderr()
			}
			header := fmt.Sprintf("mqcheck: running %s on %s (%s) for %s, run directory %s",
				s.Name, s.Broker.Kind, s.Broker.Target, s.Duration, out)
			if s.Consumers.Backlog != "" {
				header = fmt.Sprintf("mqcheck: running %s on %s (%s): consuming the backlog of %s until it is drained (at most %s), run directory %s",
					s.Name, s.Broker.Kind, s.Broker.Target, s.Consumers.Backlog, s.DrainTimeout, out)
			}
			ss, err := startSession(cmd.Context(), &watch, s, header, display, cmd.ErrOrStderr())
			if err != nil {
				if named {
					os.Remove(out) // nothing ran: the directory made for it goes
				}
				return err
			}
			defer ss.close()
			latency, writers := runFiles(out) // report files (issue 6): report.go
			res, runErr := runner.Run(cmd.Context(), runner.Options{
				Scenario: s, Dir: out, Kinds: ld.Kinds, Observers: append(ss.observers, latency), Writers: writers,
				Log: ss.log, Tool: "mqcheck " + toolVersion(),
				Abort: abortOf(cmd.Context()), Worker: worker,
			})
			ss.stopDisplay()
			// A scenario error means nothing ran: the error says it all.
			var se *runner.ScenarioError
			if errors.As(runErr, &se) {
				return &exitError{code: exitUsage, err: fmt.Errorf("%w (nothing was run)", runErr)}
			}
			if err := showResults(stdout, display, watch.quiet, asJSON, out, res, runErr); err != nil {
				return err
			}
			if worker != nil && runErr == nil {
				// Its verdict is the merge's: a worker that ran its
				// part exits 0 (a Kubernetes Job counts it complete).
				return workerDone(notes, worker, out)
			}
			return exitFor(res, runErr)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "run directory (default runs/NAME-TIMESTAMP, made unique)")
	cmd.Flags().StringVar(&backlogDir, "backlog", "",
		"consume-only run (producers.count: 0): the run directory of the produce-only run whose messages to read and judge (sets consumers.backlog)")
	cmd.Flags().BoolVar(&force, "force", false, "let --out replace the run a directory already holds")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a scenario field: path=value (repeatable)")
	cmd.Flags().BoolVar(&print, "print", false, "print the resolved scenario as YAML instead of running it (secrets as ***)")
	cmd.Flags().BoolVar(&asJSON, "json", false,
		"print the results document (results.json) on stdout and nothing else: header, progress and summary go to stderr")
	watch.register(cmd)
	wf.register(cmd)
	cmd.ValidArgsFunction = completeScenario
	_ = cmd.RegisterFlagCompletionFunc("set", completeSetPath(ld))
	_ = cmd.RegisterFlagCompletionFunc("out", completeDirs)
	_ = cmd.RegisterFlagCompletionFunc("backlog", completeDirs)
	return cmd
}

// checkBacklogOut refuses a run directory that is the backlog's own: the
// consume-only run would replace the state it reads.
func checkBacklogOut(backlog, out string) error {
	if backlog == "" || out == "" {
		return nil
	}
	b, errB := filepath.Abs(backlog)
	o, errO := filepath.Abs(out)
	if errB == nil && errO == nil && filepath.Clean(b) == filepath.Clean(o) {
		return usageError("--out %s is the backlog's run directory (consumers.backlog): give the consume-only run a directory of its own", out)
	}
	return nil
}

// showResults tells what a run found: the summary on display unless quiet,
// and with asJSON the results document on stdout. A run that measured
// nothing (its broker unreachable) gets no summary of zeros: its error,
// printed once as mqcheck exits, says what happened.
func showResults(stdout, display io.Writer, quiet, asJSON bool, dir string, res *report.Results, runErr error) error {
	var se *runner.ScenarioError
	if res == nil || errors.As(runErr, &se) {
		return nil // nothing ran: the error says it all
	}
	path := filepath.Join(dir, "results.json")
	if !quiet {
		if res.Measured() {
			fmt.Fprintln(display)
			if err := report.Text(display, res); err != nil {
				return err
			}
			fmt.Fprintf(display, "results: %s\n", path)
		} else {
			fmt.Fprintf(display, "nothing measured: results in %s\n", path)
		}
	}
	if asJSON {
		if err := report.WriteJSON(stdout, res); err != nil {
			return &exitError{code: exitInfra, err: fmt.Errorf("writing the results to stdout: %w", err)}
		}
	}
	return nil
}

// exitFor maps a run's outcome to the documented exit codes. The verdict
// decides 0 or 1: a violated claim is a fact whatever else went wrong,
// and a file besides results.json that could not be written (report.html,
// junit.xml) is said, not turned into another code. An infrastructure
// error that left the verdict unknown, or an interrupted run, is 3.
// Scenario errors (2) are the caller's: nothing was run.
func exitFor(res *report.Results, err error) error {
	var se *runner.ScenarioError
	var oe *runner.OutputError
	notWritten := ""
	if errors.As(err, &oe) {
		notWritten = "; " + oe.Error()
	}
	// The runner marks every error of the run itself (ErrInfra,
	// ErrInterrupted, ScenarioError); what else it returns is an
	// OutputError.
	infra := errors.Is(err, runner.ErrInfra)
	switch {
	case errors.As(err, &se):
		return &exitError{code: exitUsage, err: err}
	case res == nil && err != nil:
		return &exitError{code: exitInfra, err: err}
	case res == nil:
		return &exitError{code: exitInfra, err: errors.New("no results")}
	case errors.Is(err, runner.ErrInterrupted):
		// The scenario did not run to its end: 3, as documented, whatever
		// results.json says of the claims so far.
		return &exitError{code: exitInfra, err: errors.New("interrupted: results written with what was measured" + notWritten)}
	case res.Verdict == checker.Fail && infra:
		return &exitError{code: exitFail, err: fmt.Errorf("verdict: fail (the run also met an error: %w)", err)}
	case res.Verdict == checker.Fail:
		return &exitError{code: exitFail, err: errors.New("verdict: fail" + notWritten)}
	case infra:
		return &exitError{code: exitInfra, err: err}
	case res.Verdict == checker.Pass && notWritten != "":
		return &exitError{code: exitPass, err: errors.New("verdict: pass" + notWritten)}
	case res.Verdict == checker.Pass:
		return nil
	}
	return &exitError{code: exitInfra, err: errors.New("verdict: unknown (the run could not decide every claim)" + notWritten)}
}

// loadScenario resolves the scenario arg names with its overrides; notes
// gets a line when a file or directory and a built-in share the name.
func loadScenario(ld scenarios.Loader, arg string, sets []string, notes io.Writer) (*scenarios.Scenario, error) {
	for _, kv := range sets {
		if !strings.Contains(kv, "=") {
			return nil, usageError("--set %q: want path=value, e.g. --set producers.rate=5k/s", kv)
		}
	}
	if n := scenarios.Shadowed(arg); n != "" {
		fmt.Fprintln(notes, "mqcheck: note:", n)
	}
	s, err := ld.Resolve(arg, sets)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return s, nil
}

// machineLimits are what one process may use here; tests fake them.
var machineLimits = machine.Current

// checkCapacity refuses a scenario one process cannot drive on this
// machine (usage error: nothing runs), as validate does.
func checkCapacity(ld scenarios.Loader, s *scenarios.Scenario) error {
	if err := ld.CheckCapacity(s, machineLimits()); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string {
	s = unsafeChars.ReplaceAllString(s, "-")
	if s == "" {
		return "run"
	}
	return s
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mqcheck's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "mqcheck", toolVersion())
		},
	}
}
