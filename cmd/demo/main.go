// Command demo is `make demo`: it loads simulated KernelCI-shaped events, spread over the
// last 48 hours so that stats and anomalies have something to show, into a running
// `make dev` server; one lab (lava-broonie) has sent nothing for the last two hours, so
// the summary shows it silent. It never runs by itself; start `make dev` first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pipetel/pipetel/internal/emitter"
)

func main() {
	o := emitter.DemoOptions{Now: time.Now().UTC()}
	flag.StringVar(&o.URL, "url", "http://127.0.0.1:3000/telemetry", "POST /telemetry of the running server")
	flag.IntVar(&o.Events, "events", 5000, "how many events to load")
	flag.Int64Var(&o.Seed, "seed", 1, "simulation seed")
	flag.DurationVar(&o.Span, "span", 48*time.Hour, "events are spread over this long before now")
	flag.IntVar(&o.Batch, "batch", 500, "events per request")
	flag.IntVar(&o.Workers, "workers", 2, "requests in flight")
	flag.StringVar(&o.SilentLab, "silent-lab", "lava-broonie", "a lab that sends nothing for the last -silent-for, so the summary shows it silent (empty: none)")
	flag.DurationVar(&o.SilentFor, "silent-for", 2*time.Hour, "how long before now -silent-lab has been silent")
	tokenFile := flag.String("token-file", ".local/dev-token", "file holding a token with the ingest scope (make dev writes this one)")
	flag.Parse()
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: the token: %v; `make dev` writes it when it starts\n", err)
		os.Exit(1)
	}
	o.Token = strings.TrimSpace(string(tok))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := emitter.LoadDemo(ctx, o, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			fmt.Fprintln(os.Stderr, "demo: is the server running? Start it with `make dev`, then run `make demo` in another terminal.")
		}
		var status *emitter.StatusError
		if errors.As(err, &status) && (status.Status == 503 || status.Status == 504) {
			// The server was too slow for its deadline, several times over: a busy machine.
			// Events it stored stay stored; a rerun lays the history out again back from its
			// own now, at new times, so it adds to what is there.
			fmt.Fprintf(os.Stderr, "demo: the server stayed too busy to store a batch of %d in time, after its retries; try smaller batches, e.g. make demo DEMO_FLAGS=-batch=100 (a rerun loads the history again beside what was stored)\n", o.Batch)
		}
		os.Exit(1)
	}
}
