// Package machine reads what this process may use of the machine it runs
// on (memory, file descriptors, CPUs), to bound a scenario to it.
package machine

import (
	"runtime"
	"syscall"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// Limits are what one process may use.
type Limits struct {
	// Memory in bytes: the cgroup's memory limit when there is one (a
	// container), else the machine's memory; 0 when unknown.
	Memory uint64
	// MemoryFrom says which: "cgroup limit" or "machine memory".
	MemoryFrom string
	// FileDescriptors the process may open (RLIMIT_NOFILE, which the Go
	// runtime raises to the hard limit at start); 0 when unknown.
	FileDescriptors uint64
	// CPUs the process runs on (GOMAXPROCS, which follows a cgroup's CPU
	// quota).
	CPUs int
}

// Current reads the limits of this process. automemlimit reads the
// cgroup (v1, v2 and hybrid mounts) as Go services do to set GOMEMLIMIT.
func Current() Limits {
	l := Limits{CPUs: runtime.GOMAXPROCS(0)}
	if m, err := memlimit.FromCgroup(); err == nil && m > 0 {
		l.Memory, l.MemoryFrom = m, "cgroup limit"
	}
	if m, err := memlimit.FromSystem(); err == nil && m > 0 && (l.Memory == 0 || m < l.Memory) {
		l.Memory, l.MemoryFrom = m, "machine memory"
	}
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err == nil {
		l.FileDescriptors = r.Cur
	}
	return l
}

// PeakRSS is the most memory this process has held resident so far
// (getrusage's ru_maxrss), in bytes; 0 when unknown.
func PeakRSS() uint64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil || u.Maxrss <= 0 {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return uint64(u.Maxrss) // bytes there, KiB on Linux
	}
	return uint64(u.Maxrss) << 10
}
