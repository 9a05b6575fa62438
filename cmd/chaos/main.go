// Command chaos is `make chaos`: the service under faults (a fault proxy in front of
// DynamoDB Local, DynamoDB Local killed and restarted, a total outage) with careful
// clients posting realistic batches, then a check through the API that nothing
// acknowledged was lost or doubled. It prints one summary line and exits 1 on any
// violation. Flags change the scenario; the defaults are the full one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/pipetel/pipetel/internal/chaos"
)

func main() {
	cfg := chaos.Full()
	flag.IntVar(&cfg.Events, "events", cfg.Events, "simulated events to post")
	flag.IntVar(&cfg.Clients, "clients", cfg.Clients, "clients posting at once")
	flag.IntVar(&cfg.BatchMax, "batch", cfg.BatchMax, "most events in one batch (each holds 1..batch)")
	flag.Float64Var(&cfg.Resend, "resend", cfg.Resend, "share of acknowledged batches posted again on purpose")
	flag.Float64Var(&cfg.Faults.ResetBefore, "reset-before", cfg.Faults.ResetBefore, "rate of store exchanges reset before the store sees them")
	flag.Float64Var(&cfg.Faults.ResetAfter, "reset-after", cfg.Faults.ResetAfter, "rate of store exchanges reset after the store did the work")
	flag.Float64Var(&cfg.Faults.Delay, "delay", cfg.Faults.Delay, "rate of store answers delayed")
	flag.DurationVar(&cfg.Faults.DelayMax, "delay-max", cfg.Faults.DelayMax, "longest delay")
	flag.Float64Var(&cfg.Faults.Stall, "stall", cfg.Faults.Stall, "rate of store exchanges stalled, then reset")
	flag.DurationVar(&cfg.Faults.StallFor, "stall-for", cfg.Faults.StallFor, "how long a stall lasts")
	flag.Float64Var(&cfg.Faults.Refuse, "refuse", cfg.Faults.Refuse, "rate of connections to the store refused")
	flag.Uint64Var(&cfg.Faults.Seed, "seed", cfg.Faults.Seed, "seed of the events, batches and faults")
	flag.Float64Var(&cfg.RestartAt, "restart-at", cfg.RestartAt, "share of events acknowledged when DynamoDB Local is killed and restarted (0: never)")
	flag.Float64Var(&cfg.OutageAt, "outage-at", cfg.OutageAt, "share of events acknowledged when the store is cut off (0: never)")
	flag.DurationVar(&cfg.Outage, "outage", cfg.Outage, "how long the store stays cut off")
	short := flag.Bool("short", false, "the short scenario of `make test` (other flags apply on top)")
	logFile := flag.String("log", ".local/chaos/service.log", "file for the service's log lines")
	flag.Parse()
	if *short {
		cfg = applyExplicit(chaos.Short(), cfg)
	}
	if err := run(cfg, *logFile); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		os.Exit(2)
	}
}

// applyExplicit is base with every flag the user gave taken from given.
func applyExplicit(base, given chaos.Config) chaos.Config {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pick := func(name string, dst *int, v int) {
		if set[name] {
			*dst = v
		}
	}
	pick("events", &base.Events, given.Events)
	pick("clients", &base.Clients, given.Clients)
	pick("batch", &base.BatchMax, given.BatchMax)
	if set["seed"] {
		base.Faults.Seed = given.Faults.Seed
	}
	return base
}

func run(cfg chaos.Config, logFile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return err
	}
	log, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer log.Close()
	dir, err := chaos.ScratchDir(filepath.Dir(logFile))
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg.DataDir, cfg.Log = dir, log
	sum, err := chaos.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Println(sum)
	if len(sum.Violations()) > 0 {
		os.Exit(1)
	}
	return nil
}
