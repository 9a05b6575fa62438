package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/devgateway"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// lambdaEnv is the configuration a deployed function would read for table, pointed at
// the bench's DynamoDB Local; every other setting keeps its production default, so the
// bench measures what ships.
func lambdaEnv(endpoint, table string) map[string]string {
	return map[string]string{
		config.EnvEventsTable:    table,
		config.EnvTokensTable:    tokensTable,
		config.EnvDynamoEndpoint: endpoint,
		config.EnvRegion:         region,
		// Every function of a deployment has the summary table: ingest marks what it
		// writes stale, stats and anomalies read rollups, as shipped.
		config.EnvSummaryTable: summaryTable(table),
	}
}

// summaryTable is the name of the summary table beside the events table table.
func summaryTable(table string) string { return table + "-summary" }

// tokensTable is the one tokens table of a run: every service and function the bench
// starts checks the bench's token in it, as a deployment checks its clients'.
const tokensTable = "bench-tokens"

const region = "us-east-1"

func loadConfig(endpoint, table string) (config.Config, error) {
	env := lambdaEnv(endpoint, table)
	return config.Load(func(k string) string { return env[k] })
}

// deps builds the dependencies of the functions over table as a Lambda builds them at
// cold start from its environment, logging errors only.
func (b *bench) deps(ctx context.Context, table string) (api.Deps, error) {
	cfg, err := loadConfig(b.endpoint, table)
	if err != nil {
		return api.Deps{}, err
	}
	return app.NewDeps(ctx, cfg, app.NewLogger(io.Discard, "error"))
}

// service is the whole API on 127.0.0.1 for one events table: the local gateway over
// the handlers that routes.All' constructors build, as `make dev` serves them.
type service struct {
	url    string
	events *countingStore // what the handlers store through, with what they read counted
	srv    *http.Server
	served chan error
}

func startService(ctx context.Context, endpoint, table string) (*service, error) {
	cfg, err := loadConfig(endpoint, table)
	if err != nil {
		return nil, err
	}
	// Handlers log a line per request, as in Lambda, where it costs the same; here the
	// lines are discarded rather than printed over the progress.
	log := app.NewLogger(io.Discard, "info")
	deps, err := app.NewDeps(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	counted := &countingStore{EventStore: deps.Events}
	deps.Events = counted
	gw, err := devgateway.New(routes.All, deps, log)
	if err != nil {
		return nil, err
	}
	// Behind the authorizer with API Gateway's cache, as `make dev` and a deployment.
	gw.UseAuthorizer(devgateway.NewAuthorizer(api.NewAuthorizer(deps), api.AuthorizerCacheTTL, false, time.Now))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &service{
		url:    "http://" + ln.Addr().String(),
		events: counted,
		srv:    &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

func (s *service) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// countingStore passes every call to the real store and counts what it reads, so the
// bench learns the cost of the very requests it times, through the HTTP path.
type countingStore struct {
	telemetry.EventStore
	itemsRead  atomic.Int64 // items DynamoDB examined for QueryEvents
	eventsRead atomic.Int64 // events EachEvent handed to the handler
}

func (c *countingStore) QueryEvents(ctx context.Context, f telemetry.Filter, req telemetry.PageRequest) (telemetry.Page, error) {
	p, err := c.EventStore.QueryEvents(ctx, f, req)
	c.itemsRead.Add(int64(p.ItemsRead))
	return p, err
}

func (c *countingStore) EachEvent(ctx context.Context, f telemetry.Filter, fn func(telemetry.Event) error) error {
	return c.EventStore.EachEvent(ctx, f, func(e telemetry.Event) error {
		c.eventsRead.Add(1)
		return fn(e)
	})
}

// reads is a snapshot of the counters, to diff around one request.
func (c *countingStore) reads() (items, events int64) {
	return c.itemsRead.Load(), c.eventsRead.Load()
}

// httpClient keeps enough idle connections for every worker, so the bench measures
// requests, not TCP handshakes, and sends token on every request, as clients do.
func httpClient(workers int, token string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Minute,
		Transport: auth.Transport{Token: token, Next: &http.Transport{
			MaxIdleConns:        2 * workers,
			MaxIdleConnsPerHost: 2 * workers,
			IdleConnTimeout:     time.Minute,
		}},
	}
}

// get sends one GET and decodes a 200 answer into out, returning how long it took from
// sending the request to reading the last byte of the answer.
func get(ctx context.Context, c *http.Client, url string, out any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	if resp.StatusCode != http.StatusOK {
		return took, fmt.Errorf("GET %s answered %d: %.300s", url, resp.StatusCode, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return took, fmt.Errorf("GET %s: %w", url, err)
		}
	}
	return took, nil
}
