package proc

import (
	"fmt"
	"os"
)

// Owner names one process well enough for a later process to tell whether
// it still runs: a pid alone may have been reused, and means nothing on
// another boot or in another pid namespace. Things that outlive mqcheck
// but not their purpose (records, broker containers) carry their owner.
type Owner struct {
	PID int
	// Start is the process's start time in clock ticks since boot
	// (/proc/PID/stat).
	Start  uint64
	BootID string
	// PIDNS is the pid namespace PID belongs to ("pid:[4026531836]"):
	// a process in another one (mqcheck in a container that shares the
	// engine's socket) cannot be looked up by its pid here.
	PIDNS string
}

// Self is the calling process as an Owner.
func Self() (Owner, error) {
	pid := os.Getpid()
	start, err := startTicks(pid)
	if err != nil {
		return Owner{}, fmt.Errorf("reading this process's start time: %w", err)
	}
	boot := bootID()
	if boot == "" {
		return Owner{}, fmt.Errorf("reading the boot id: /proc/sys/kernel/random/boot_id is unreadable")
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return Owner{}, fmt.Errorf("reading this process's pid namespace: %w", err)
	}
	return Owner{PID: pid, Start: start, BootID: boot, PIDNS: ns}, nil
}

// Gone reports whether o's process has ended, as seen from self (Self()):
// o ran on another boot, or no process o.PID that started at o.Start
// runs. An owner in another pid namespace of this boot cannot be looked
// up, so it is never gone: what it owns is left alone.
func (o Owner) Gone(self Owner) bool {
	if o.BootID != self.BootID {
		return true
	}
	if o.PIDNS != self.PIDNS {
		return false
	}
	return !alive(o.PID, o.Start)
}
