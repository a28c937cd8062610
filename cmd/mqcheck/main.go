// Command mqcheck load-tests message brokers and verifies their delivery
// guarantees message by message. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"

	"github.com/mqcheck/mqcheck/chaos"
	"github.com/mqcheck/mqcheck/redact"
	"github.com/mqcheck/mqcheck/scenarios"
)

// Exit codes, as documented in README.md.
const (
	exitPass  = 0 // every claim held
	exitFail  = 1 // a claim was violated
	exitUsage = 2 // usage or scenario error: nothing was run
	exitInfra = 3 // infrastructure error, interrupted, or undecided: verdict unknown
)

// exitError carries the exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// setupProcess changes what belongs to the whole process, once, before
// anything runs: toxiproxy's registry of toxics learns mqcheck's, and
// zerolog's global logger, which toxiproxy's bandwidth toxic writes trace
// lines to on stderr, is silenced (nothing in mqcheck logs through it).
func setupProcess() {
	chaos.RegisterToxics()
	zlog.Logger = zerolog.Nop()
}

func main() {
	setupProcess()
	ctx, stop := notifyInterrupts(context.Background(), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, scenarios.Loader{}, args, stdout, stderr)
}

// runWith runs the CLI for the broker kinds ld knows.
func runWith(ctx context.Context, ld scenarios.Loader, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCmd(ld)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitPass
	}
	// The run scrubs the scenario's own secrets; masking URL passwords
	// here too covers errors from before a scenario was loaded.
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "mqcheck:", redact.URL(ee.err.Error()))
		}
		return ee.code
	}
	// Anything cobra itself rejects (unknown flag or command) is usage.
	fmt.Fprintln(stderr, "mqcheck:", redact.URL(err.Error()))
	return exitUsage
}
