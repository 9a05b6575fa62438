// Command dynamolocal runs a command beside a fresh in-memory DynamoDB Local:
//
//	go run ./cmd/dynamolocal run -- go test ./...
//
// The command finds the endpoint in $PIPETEL_TEST_DYNAMODB_ENDPOINT, so all the test
// binaries of one `make test` share one JVM instead of each starting its own.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/dynamotest"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, sigs))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	if len(args) < 3 || args[0] != "run" || args[1] != "--" {
		fmt.Fprintln(stderr, "usage: dynamolocal run -- <command> [args...]")
		return 2
	}
	cmd := exec.Command(args[2], args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	code, err := dynamolocal.Run(ctx, dynamolocal.Options{}, cmd, dynamotest.EnvEndpoint, sigs)
	if err != nil {
		fmt.Fprintf(stderr, "dynamolocal: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
