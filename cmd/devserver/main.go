// Command devserver is `make dev`: every route on http://127.0.0.1:3000 through the local
// API gateway, the schedule every minute, and DynamoDB Local keeping its data under
// .local/dynamodb. Ctrl-C stops all of it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/pipetel/pipetel/internal/devserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "devserver: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "", "address to listen on (default "+devserver.DefaultHost+":$"+devserver.EnvPort+", else "+
		devserver.DefaultHost+":"+devserver.DefaultPort+")")
	dataDir := flag.String("data", devserver.DefaultDataDir, "directory where DynamoDB Local keeps its data")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C has started a graceful stop, a second one kills at once;
		// DynamoDB Local dies with this process.
		<-ctx.Done()
		stop()
	}()

	ln, err := net.Listen("tcp", devserver.Addr(*addr, os.Getenv))
	if err != nil {
		return err
	}
	return devserver.Run(ctx, ln, devserver.Options{
		DataDir: *dataDir,
		Getenv:  os.Getenv,
		Log:     os.Stdout,
		Notes:   os.Stderr,
	})
}
