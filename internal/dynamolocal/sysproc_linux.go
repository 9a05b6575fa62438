package dynamolocal

import "syscall"

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		// The JVM must not outlive us: a test binary that starts one never stops it, and a
		// killed `make test` has no chance to.
		Pdeathsig: syscall.SIGKILL,
		// Its own process group keeps a terminal's Ctrl-C from killing it while the
		// command it serves is still cleaning up; Stop and Pdeathsig end it instead.
		Setpgid: true,
	}
}
