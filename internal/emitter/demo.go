package emitter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pipetel/pipetel/internal/simulate"
)

// DemoOptions say what demo data to load and where.
type DemoOptions struct {
	URL     string // POST /telemetry of a running server, e.g. http://127.0.0.1:3000/telemetry
	Events  int
	Seed    int64
	Span    time.Duration // events are spread over the Span before Now
	Batch   int           // events per request
	Workers int           // requests in flight
	Now     time.Time
	HTTP    *http.Client // nil: a client with a generous timeout
	Token   string       // bearer token with the ingest scope (make dev's dev token)
	// SilentLab, when set, sends nothing for the last SilentFor before Now, so the
	// summary shows it silent (simulate.Options.SilentLab).
	SilentLab string
	SilentFor time.Duration
}

// LoadDemo posts simulated events to a running server, reporting progress to w. The
// events carry no id, as KernelCI's emitter sends them, so the server derives each from
// its content: a second load at another time is a new set of events shifted to that time,
// not a set of old ids with new timestamps.
func LoadDemo(ctx context.Context, o DemoOptions, w io.Writer) (Result, error) {
	if o.Events < 1 || o.Batch < 1 || o.Workers < 1 || o.Span <= 0 {
		return Result{}, errors.New("events, batch, workers and span must all be positive")
	}
	so := simulate.Options{Seed: o.Seed, Events: o.Events, Start: o.Now.Add(-o.Span), End: o.Now}
	if o.SilentLab != "" && o.SilentFor > 0 {
		so.SilentLab, so.SilentFrom = o.SilentLab, o.Now.Add(-o.SilentFor)
	}
	events, err := simulate.Generate(so)
	if err != nil {
		return Result{}, err
	}
	for i := range events {
		events[i].ID = ""
	}
	batches, err := Batches(events, o.Batch)
	if err != nil {
		return Result{}, err
	}
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	c := &Client{URL: o.URL, HTTP: hc, Token: o.Token}
	fmt.Fprintf(w, "loading %d simulated events (seed %d, %s up to now) into %s in batches of %d\n",
		o.Events, o.Seed, o.Span, o.URL, o.Batch)
	start := time.Now()
	last := start
	res, err := c.PostAll(ctx, batches, o.Workers, func(r Result) {
		if time.Since(last) >= time.Second || r.Events == o.Events {
			last = time.Now()
			fmt.Fprintf(w, "  %d/%d events posted: %d inserted, %d duplicates\n", r.Events, o.Events, r.Inserted, r.Duplicates)
		}
	})
	if err != nil {
		return res, fmt.Errorf("after %d of %d events: %w", res.Events, o.Events, err)
	}
	fmt.Fprintf(w, "done in %.1f s: %d inserted, %d already there\n", time.Since(start).Seconds(), res.Inserted, res.Duplicates)
	if res.Unconfirmed > 0 {
		fmt.Fprintf(w, "  and %d stored by a send the gateway timed out, or there before\n", res.Unconfirmed)
	}
	return res, nil
}
