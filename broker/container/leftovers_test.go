package container

import (
	"maps"
	"os/exec"
	"strconv"
	"testing"

	"github.com/mqcheck/mqcheck/internal/proc"
)

// TestLeftover: a container is a leftover only when all its owner labels
// are there, well formed, and name a process that is gone.
func TestLeftover(t *testing.T) {
	self, err := proc.Self()
	if err != nil {
		t.Fatal(err)
	}
	// A pid that ran and was waited for: nothing runs under it now (short
	// of a reuse within the test, which the start ticks would tell).
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := c.Process.Pid
	with := func(o proc.Owner, edit func(o *proc.Owner)) map[string]string {
		edit(&o)
		l := ownerLabels(o)
		maps.Copy(l, map[string]string{labelRun: "r", labelKind: "redis", labelDir: "/tmp/run"})
		return l
	}
	dead := with(self, func(o *proc.Owner) { o.PID = deadPID })
	edited := func(base map[string]string, k, v string) map[string]string {
		l := maps.Clone(base)
		if v == "" {
			delete(l, k)
		} else {
			l[k] = v
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"live owner (this process)", with(self, func(*proc.Owner) {}), false},
		{"dead pid", dead, true},
		{"reused pid (other start ticks)", with(self, func(o *proc.Owner) { o.Start++ }), true},
		{"other boot", with(self, func(o *proc.Owner) { o.BootID = "00000000-0000-0000-0000-000000000000" }), true},
		{"other boot, pid alive here", with(self, func(o *proc.Owner) { o.BootID += "x" }), true},
		{"other pid namespace, pid dead here", with(self, func(o *proc.Owner) { o.PID, o.PIDNS = deadPID, "pid:[1]" }), false},
		{"no labels", nil, false},
		{"only the run labels", map[string]string{labelRun: "r", labelKind: "redis", labelDir: "/tmp/run"}, false},
		// Each below is the dead owner's labels with one missing or
		// garbled: had it been read leniently, it would be a leftover.
		{"no pid", edited(dead, labelOwnerPID, ""), false},
		{"no start ticks", edited(dead, labelOwnerStart, ""), false},
		{"no boot id", edited(dead, labelOwnerBoot, ""), false},
		{"no pid namespace", edited(dead, labelOwnerPIDNS, ""), false},
		{"pid not a number", edited(dead, labelOwnerPID, "12x"), false},
		{"pid zero", edited(dead, labelOwnerPID, "0"), false},
		{"pid negative", edited(dead, labelOwnerPID, "-1"), false},
		{"start ticks not a number", edited(dead, labelOwnerStart, "soon"), false},
		{"start ticks negative", edited(dead, labelOwnerStart, "-"+strconv.FormatUint(self.Start, 10)), false},
	} {
		if got := leftover(tc.labels, self); got != tc.want {
			t.Errorf("%s: leftover(%v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
