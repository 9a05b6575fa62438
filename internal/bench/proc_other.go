//go:build !linux

package bench

import (
	"os"
	"os/exec"
)

func setDeathSignal(*exec.Cmd) {}

// highWaterMark and maxRSS read Linux's accounting; elsewhere the memory figure is not
// measured and the run says so.
func highWaterMark(int) (int64, string) { return 0, "" }

func maxRSS(*os.ProcessState) (int64, string) { return 0, "" }
