package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
)

// TestExecTargetLeavesNothing: after Close, no process the node started is
// alive (the start script, the Erlang VM, epmd, and Erlang's helpers, found
// by their working directory), also after a restart.
func TestExecTargetLeavesNothing(t *testing.T) {
	requireServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tgt, err := openScenario(ctx, scenario(t, "leftovers", nil), broker.Env{RunID: "leftovers", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	url := rabbitmq.NodeURL(tgt)
	pauser := tgt.Restarter.(broker.Pauser)
	if err := pauser.Pause(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := dialWithin(url, time.Second); err == nil {
		t.Error("a paused node answered")
	}
	if err := pauser.Resume(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := dialWithin(url, 5*time.Second); err != nil {
		t.Errorf("the node does not answer after Resume: %v", err)
	}
	// A graceful stop of a paused node must not wait for ever.
	if err := pauser.Pause(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Restarter.Stop(ctx, 0, true); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if err := tgt.Restarter.Start(ctx, 0); err != nil {
		t.Fatalf("start: %v", err)
	}
	pids := rabbitmq.NodePIDs(tgt)
	// sh and beam of each boot, and epmd.
	if len(pids) < 5 {
		t.Errorf("pids %v: want sh and VM of two boots, and epmd", pids)
	}
	if len(processesIn(dir)) == 0 {
		t.Fatal("no process runs in the node's directory: the check below would prove nothing")
	}
	if err := tgt.Driver.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := tgt.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d is still running", pid)
		}
	}
	if left := processesIn(dir); len(left) > 0 {
		t.Errorf("processes %v still run in %s", left, dir)
	}
}

// TestFailedStartLeavesNothing: a boot cut short by its context fails
// Open, and leaves no process behind.
func TestFailedStartLeavesNothing(t *testing.T) {
	requireServer(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := openScenario(ctx, scenario(t, "failed-start", nil), broker.Env{RunID: "failed", Dir: dir})
	if err == nil {
		t.Fatal("the node booted in 1.5s; the test needs a boot that is cut short")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	if left := processesIn(dir); len(left) > 0 {
		t.Errorf("processes still run in %s after a failed start:%s", dir, describePids(left))
	}
}

// describePids says what each process is: its stat line (state, parent,
// group) and command line.
func describePids(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		fmt.Fprintf(&b, "\n  %s\n    %s", strings.TrimSpace(string(stat)), strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return b.String()
}

// dialWithin opens and closes an AMQP connection, or fails after d.
func dialWithin(url string, d time.Duration) error {
	c, err := amqp.DialConfig(url, amqp.Config{Dial: func(network, addr string) (net.Conn, error) {
		conn, err := net.DialTimeout(network, addr, d)
		if err != nil {
			return nil, err
		}
		return conn, conn.SetDeadline(time.Now().Add(d))
	}})
	if err != nil {
		return err
	}
	return c.Close()
}
