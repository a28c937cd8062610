package machine

import "testing"

// TestCurrent: a Linux machine has memory, descriptors and a CPU to tell.
func TestCurrent(t *testing.T) {
	l := Current()
	if l.Memory == 0 || l.MemoryFrom == "" || l.FileDescriptors == 0 || l.CPUs < 1 {
		t.Errorf("limits %+v", l)
	}
	t.Logf("%+v", l)
}
