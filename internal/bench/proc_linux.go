package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// setDeathSignal has the kernel kill a bootstrap the bench started if the bench dies
// first, so none is left behind polling a Runtime API that is gone.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// highWaterMark is the process's peak resident set (VmHWM), in bytes.
func highWaterMark(pid int) (int64, string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, ""
	}
	for line := range strings.Lines(string(b)) {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb << 10, "VmHWM"
		}
	}
	return 0, ""
}

// maxRSS is the reaped process's peak resident set as getrusage reports it (in KiB on
// Linux), in bytes.
func maxRSS(ps *os.ProcessState) (int64, string) {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 0 {
		return ru.Maxrss << 10, "rusage"
	}
	return 0, ""
}
