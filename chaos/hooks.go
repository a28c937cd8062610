package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// defaultCommandTimeout bounds a fault command the scenario gives no
// timeout for.
const defaultCommandTimeout = time.Minute

// commandOutput keeps this much of a command's output for its error.
const commandOutput = 2 << 10

// command is a fault carried out by the user's own commands, for brokers
// mqcheck did not start (url targets): one run at the start, an optional
// one at the end. Each is a program and its arguments, run without a shell
// (nothing in them is parsed), in its own process group, killed with the
// group when it outlives its timeout.
type command struct {
	kind         string
	inject, heal []string
	timeout      time.Duration
	env          []string
	ran          bool
}

func newCommand(d *Deps, o Occurrence, inject, heal []string) *command {
	t := o.Fault.CommandTimeout.D()
	if t <= 0 {
		t = defaultCommandTimeout
	}
	return &command{kind: o.Fault.Kind, inject: inject, heal: heal, timeout: t,
		env: []string{"MQCHECK_FAULT=" + o.Fault.Kind, "MQCHECK_NODE=" + strconv.Itoa(o.Fault.Node), "MQCHECK_RUN_ID=" + d.RunID}}
}

func (f *command) Kind() string { return f.kind }

func (f *command) Name() string {
	return fmt.Sprintf("%s by command %s", f.kind, quoteArgs(f.inject))
}

func (f *command) Inject(ctx context.Context) error {
	f.ran = true
	return runCommand(ctx, f.inject, f.timeout, f.env)
}

func (f *command) Heal(ctx context.Context) error {
	if !f.ran || len(f.heal) == 0 {
		return nil
	}
	f.ran = false
	return runCommand(ctx, f.heal, f.timeout, f.env)
}

// runCommand runs argv within timeout and returns an error carrying the
// end of its output when it fails.
func runCommand(ctx context.Context, argv []string, timeout time.Duration, env []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("fault command: no program to run")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so a timeout kills what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out := &tailBuffer{max: commandOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("killed after %s: %w", timeout, err)
	}
	if o := strings.TrimSpace(out.String()); o != "" {
		return fmt.Errorf("running %s: %w; output: %s", quoteArgs(argv), err, o)
	}
	return fmt.Errorf("running %s: %w", quoteArgs(argv), err)
}

func quoteArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
