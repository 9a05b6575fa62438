package lambdatest

import (
	"errors"
	"fmt"
	"os/exec"
)

// ErrTimeout is wrapped by the error of an invocation the function did not answer within
// Options.Timeout, or of a runtime that did not ask for its first event within
// Options.InitTimeout. Lambda stops the process in both cases, and so does Function.
var ErrTimeout = errors.New("task timed out")

// ErrClosed is returned by calls on a closed RuntimeAPI or Function.
var ErrClosed = errors.New("lambdatest: closed")

// FunctionError is an error the runtime reported through the Runtime API: the invocation
// failed (the handler returned an error or panicked), or, with Init set, the runtime
// could not start.
type FunctionError struct {
	Init    bool
	Type    string // errorType, e.g. "errorString" or "Runtime.ExitError"
	Message string // errorMessage
	Payload []byte // the body as the runtime sent it
}

func (e *FunctionError) Error() string {
	phase := "function error"
	if e.Init {
		phase = "init error"
	}
	switch {
	case e.Type != "" && e.Message != "":
		return fmt.Sprintf("%s (%s): %s", phase, e.Type, e.Message)
	case e.Message != "":
		return phase + ": " + e.Message
	case e.Type != "":
		return phase + ": " + e.Type
	}
	return fmt.Sprintf("%s: %s", phase, e.Payload)
}

// ExitError reports a bootstrap that ended while an answer was still expected from it,
// such as a function whose configuration is missing and which exits during init.
type ExitError struct {
	Err error // from exec.Cmd.Wait: an *exec.ExitError, or nil for a clean exit
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return "bootstrap exited (status 0) before answering"
	}
	return fmt.Sprintf("bootstrap exited before answering: %v", e.Err)
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process's exit status, or -1 when a signal ended it.
func (e *ExitError) ExitCode() int {
	var ee *exec.ExitError
	switch {
	case e.Err == nil:
		return 0
	case errors.As(e.Err, &ee):
		return ee.ExitCode()
	}
	return -1
}
