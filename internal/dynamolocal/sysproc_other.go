//go:build !linux

package dynamolocal

import "syscall"

// sysProcAttr leaves the JVM in our process group elsewhere: without Pdeathsig, a
// terminal's Ctrl-C reaching it is the only thing that ends it should we be killed.
func sysProcAttr() *syscall.SysProcAttr { return nil }
