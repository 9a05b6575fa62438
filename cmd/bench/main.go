// Command bench is `make bench`: it measures pipetel against its own in-memory DynamoDB
// Local and prints each figure beside its goal; the same figures go to .local/bench.json.
// See BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/pipetel/pipetel/internal/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	o := bench.DefaultOptions()
	out := flag.String("out", ".local/bench.json", "where to write the figures as JSON")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (the service runs in this process) to this file")
	only := flag.String("only", "", "comma-separated sections to run (default all): "+strings.Join(bench.Sections, ","))
	flag.Int64Var(&o.Seed, "seed", o.Seed, "simulation seed")
	flag.IntVar(&o.IngestEvents, "ingest-events", o.IngestEvents, "events per ingest run (ours and the ceiling's)")
	flag.IntVar(&o.StoredEvents, "stored-events", o.StoredEvents, "events in the window of the large data set")
	flag.IntVar(&o.SmallEvents, "small-events", o.SmallEvents, "events in the window of the small data set")
	flag.IntVar(&o.PagingEvents, "paging-events", o.PagingEvents, "events to page through")
	flag.IntVar(&o.ClientWorkers, "clients", o.ClientWorkers, "POST /telemetry requests in flight")
	flag.IntVar(&o.QuerySamples, "query-samples", o.QuerySamples, "requests per query latency")
	flag.IntVar(&o.GrowthSamples, "growth-samples", o.GrowthSamples, "requests per stats/anomalies latency")
	flag.IntVar(&o.ColdStarts, "cold-starts", o.ColdStarts, "cold starts per function")
	flag.IntVar(&o.HotKeyEventsPerS, "hot-key-rate", o.HotKeyEventsPerS, "simulated events/s of the hot-key simulation")
	flag.IntVar(&o.HotKeySeconds, "hot-key-seconds", o.HotKeySeconds, "simulated seconds of the hot-key simulation")
	flag.StringVar(&o.Go, "go", envOr("GO", o.Go), "go command to build the bootstraps with")
	flag.Parse()
	if *only != "" {
		o.Sections = strings.Split(*only, ",")
		for _, s := range o.Sections {
			if !contains(bench.Sections, s) {
				return fmt.Errorf("-only: no section %q; sections are %s", s, strings.Join(bench.Sections, ","))
			}
		}
	}
	o.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	report, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Println()
	if err := report.WriteTable(os.Stdout); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := report.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("figures written to %s\n", *out)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
