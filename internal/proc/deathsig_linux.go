package proc

import "syscall"

// killWithParent has the kernel kill the child when the thread that
// started it ends (mqcheck killed with SIGKILL included).
func killWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
