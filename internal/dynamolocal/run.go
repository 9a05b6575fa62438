package dynamolocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// Run starts DynamoDB Local as o says, runs cmd with the endpoint added to its
// environment as endpointEnv, and stops DynamoDB Local once cmd has exited. Signals
// arriving on sigs are passed on to cmd, which decides when to end; DynamoDB Local stays
// up until then so cmd can still clean up. It returns cmd's exit code, 128+n when cmd was
// killed by signal n, as a shell reports it. A non-nil error means DynamoDB Local or cmd
// could not run, or DynamoDB Local died while cmd ran.
func Run(ctx context.Context, o Options, cmd *exec.Cmd, endpointEnv string, sigs <-chan os.Signal) (int, error) {
	srv, err := Start(ctx, o)
	if err != nil {
		return 0, err
	}
	// A signal that came during the start is the user giving up before cmd began.
	select {
	case sig := <-sigs:
		return signalCode(sig), errors.Join(fmt.Errorf("interrupted by %v", sig), srv.Stop())
	default:
	}

	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, endpointEnv+"="+srv.Endpoint())
	if err := cmd.Start(); err != nil {
		return 0, errors.Join(fmt.Errorf("start %s: %w", cmd.Path, err), srv.Stop())
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-waited:
			stopErr := srv.Stop()
			if err != nil {
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					return 0, errors.Join(fmt.Errorf("run %s: %w", cmd.Path, err), stopErr)
				}
			}
			if stopErr != nil {
				stopErr = fmt.Errorf("while %s ran: %w", cmd.Path, stopErr)
			}
			return exitCode(cmd.ProcessState), stopErr
		}
	}
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return signalCode(ws.Signal())
	}
	return ps.ExitCode()
}

func signalCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
