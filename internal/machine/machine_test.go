package machine

import (
	"runtime"
	"testing"
	"time"
)

// TestCurrent: a Linux machine has memory, descriptors and a CPU to tell.
func TestCurrent(t *testing.T) {
	l := Current()
	if l.Memory == 0 || l.MemoryFrom == "" || l.FileDescriptors == 0 || l.CPUs < 1 {
		t.Errorf("limits %+v", l)
	}
	t.Logf("%+v", l)
}

// TestUsage: this process holds some memory resident and has used some
// CPU (its children's included, read after, is no less), and the watcher
// samples it.
func TestUsage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmRSS is Linux's")
	}
	peak, stop := WatchResident(time.Millisecond)
	r := Resident()
	if r == 0 {
		t.Fatal("Resident read nothing")
	}
	for i := 0; peak() == 0 && i < 1000; i++ {
		time.Sleep(time.Millisecond)
	}
	stop()
	stop() // twice is harmless
	if p := peak(); p == 0 {
		t.Errorf("no sample in a second of watching")
	}
	self := CPUTime(false)
	all := CPUTime(true)
	if self <= 0 || all < self {
		t.Errorf("CPU time %s, with children (read after) %s", self, all)
	}
}
