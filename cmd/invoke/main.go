// Command invoke runs a built function's bootstrap on one event under the Runtime API
// emulator, as `sam local invoke` does, against an in-memory DynamoDB Local unless
// -endpoint or DYNAMODB_ENDPOINT names one. `make invoke FN=ingest EVENT=events/ingest.json`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pipetel/pipetel/internal/invoke"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := invoke.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
