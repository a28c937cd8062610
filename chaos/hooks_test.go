package chaos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestCommandHooks: restart_command and heal_command run as argument lists
// (a ';' or a space in an argument is just a character), see the fault's
// environment, and a command that outlives its timeout is killed with its
// process group, quickly.
func TestCommandHooks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	weird := filepath.Join(dir, "a b;echo $HOME")
	envFile := filepath.Join(dir, "env")
	plan, err := Plan([]scenarios.Fault{{Kind: "restart", At: dur(0), For: dur(10 * time.Millisecond), Node: 2,
		RestartCommand: []string{"touch", weird},
		HealCommand:    []string{"/usr/bin/env", "-0"}}}, Deps{Target: &broker.Target{Description: "url"}, RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	f := plan[0].Fault
	if f.Kind() != "restart" || !strings.Contains(f.Name(), `"touch"`) {
		t.Errorf("fault %s %q", f.Kind(), f.Name())
	}
	ctx := context.Background()
	if err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(weird); err != nil {
		t.Errorf("the argument was not passed as it was written: %v", err)
	}
	// The heal command's output is only seen when it fails: run env
	// through a failing wrapper instead to read it.
	c := f.(*command)
	c.heal = []string{"sh", "-c", "env > " + envFile + "; exit 3", "--"}
	err = f.Heal(ctx)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("a failing heal command: %v", err)
	}
	env, _ := os.ReadFile(envFile)
	for _, want := range []string{"MQCHECK_FAULT=restart", "MQCHECK_NODE=2", "MQCHECK_RUN_ID=run-1"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("the command's environment lacks %s", want)
		}
	}

	start := time.Now()
	err = runCommand(ctx, []string{"sh", "-c", "sleep 30 & sleep 30; echo never"}, 200*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "killed after 200ms") {
		t.Errorf("a command past its timeout: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("killing a command past its timeout took %v", d)
	}
	if err := runCommand(ctx, []string{filepath.Join(dir, "no-such-program")}, time.Second, nil); err == nil {
		t.Error("a missing program ran")
	}
}

// TestPlanRejectsNewKinds: each kind names what it needs when the target,
// the network or the clients cannot provide it.
func TestPlanRejectsNewKinds(t *testing.T) {
	one := &fakeRestarter{n: 1}
	for _, tc := range []struct {
		name string
		deps Deps
		f    scenarios.Fault
		want string
	}{
		{"pause without a pauser", Deps{Target: &broker.Target{Restarter: &fakeRestarter{}}}, scenarios.Fault{Kind: "pause", For: dur(time.Second)}, "pause_command"},
		{"leader-move without a mover", Deps{Target: &broker.Target{Restarter: &fakeRestarter{}}}, scenarios.Fault{Kind: "leader-move"}, "leader-move"},
		{"rolling restart of one node", Deps{Target: &broker.Target{Restarter: one}}, scenarios.Fault{Kind: "rolling-restart"}, "2 nodes"},
		{"network fault without endpoints", Deps{Target: &broker.Target{Description: "memory"}, Network: NewNetwork()}, scenarios.Fault{Kind: "blackhole", For: dur(time.Second)}, "no network address"},
		{"network fault without a network", Deps{Target: &broker.Target{Endpoints: []string{"x"}}}, scenarios.Fault{Kind: "reset", For: dur(time.Second)}, "no proxy"},
		{"crash without clients", Deps{Target: &broker.Target{}}, scenarios.Fault{Kind: "producer-crash"}, "clients"},
		{"crash of a client that is not there", Deps{Target: &broker.Target{}, Clients: fakeClients{}}, scenarios.Fault{Kind: "consumer-crash", Client: 3}, "faults.0.client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan([]scenarios.Fault{tc.f}, tc.deps)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
