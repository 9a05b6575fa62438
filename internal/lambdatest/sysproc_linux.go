package lambdatest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the bootstrap if we die without Close (a test binary
// killed on timeout, say), so no function is left polling a port nobody serves.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
