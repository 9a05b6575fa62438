// Package app assembles a process from its configuration: the logger, the DynamoDB client
// and the stores every function shares. The Lambdas and the local server both start here,
// so there is one wiring, not one per function.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/store"
)

// NewLogger writes structured JSON lines at the named level (debug, info, warn, error).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// NewDeps builds the handlers' dependencies from cfg.
func NewDeps(ctx context.Context, cfg config.Config, log *slog.Logger) (api.Deps, error) {
	client, err := store.NewClient(ctx, store.ClientOptions{
		Region:      cfg.Region,
		Endpoint:    cfg.DynamoEndpoint,
		Credentials: cfg.Credentials,
		// Ingest keeps WriteConcurrency batch writes in flight; queries fan out over
		// shards. Enough idle connections for both avoids new handshakes per burst.
		MaxConns: 2 * max(cfg.WriteConcurrency, cfg.EventShards, cfg.KindShards),
	})
	if err != nil {
		return api.Deps{}, err
	}
	events := store.NewEvents(client, store.EventsOptions{
		Table:            cfg.EventsTable,
		EventShards:      cfg.EventShards,
		RuntimeShards:    cfg.RuntimeShards,
		KindShards:       cfg.KindShards,
		Retention:        cfg.Retention,
		WriteConcurrency: cfg.WriteConcurrency,
		CursorSecret:     []byte(cfg.CursorSecret),
	})
	return api.Deps{Events: events, Log: log, Now: time.Now, PipelineRuntime: cfg.PipelineRuntime}, nil
}

// Start runs one Lambda function: it builds the dependencies once per cold start and
// serves the handler newHandler makes from them.
func Start(newHandler func(api.Deps) api.Handler) {
	cfg, err := config.Load(os.Getenv)
	log := NewLogger(os.Stdout, cfg.LogLevel)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	deps, err := NewDeps(context.Background(), cfg, log)
	if err != nil {
		log.Error("start", "error", fmt.Sprint(err))
		os.Exit(1)
	}
	lambda.Start(newHandler(deps))
}
