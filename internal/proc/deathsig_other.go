//go:build !linux

package proc

import "syscall"

// killWithParent does nothing where the kernel has no parent-death signal
// (macOS, the BSDs): there the guard process and the records left in the
// run directory are what clean up after an mqcheck that was killed.
func killWithParent(*syscall.SysProcAttr) {}
