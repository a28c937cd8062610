//go:build !linux

package proc

import "syscall"

// killWithParent does nothing where the kernel has no parent-death signal
// (macOS, the BSDs): there the guard process, which kills the group when
// mqcheck's end of its pipe closes, is what cleans up after an mqcheck
// that was killed (the process records read Linux's /proc).
func killWithParent(*syscall.SysProcAttr) {}
