//go:build !linux

package lambdatest

import "os/exec"

// setDeathSignal does nothing where there is no parent-death signal; Close and the
// context given to Start still stop the process.
func setDeathSignal(*exec.Cmd) {}
