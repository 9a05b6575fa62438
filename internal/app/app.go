// Package app assembles a process from its configuration: the logger, the DynamoDB client
// and the stores every function shares. The Lambdas and the local server both start here,
// so there is one wiring, not one per function.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/rollup/walk"
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
	opts := store.EventsOptions{
		Table:            cfg.EventsTable,
		EventShards:      cfg.EventShards,
		RuntimeShards:    cfg.RuntimeShards,
		KindShards:       cfg.KindShards,
		Retention:        cfg.Retention,
		WriteConcurrency: cfg.WriteConcurrency,
		CursorSecret:     []byte(cfg.CursorSecret),
	}
	deps := api.Deps{Log: log, Now: time.Now, Retention: cfg.Retention, PublicReads: cfg.PublicReads,
		PipelineRuntime:      cfg.PipelineRuntime,
		RollupAnomalyWindows: cfg.RollupAnomalyWindows, RollupAnomalyThreshold: cfg.RollupAnomalyThreshold}
	if cfg.TokensTable != "" {
		deps.Tokens = store.NewTokens(client, cfg.TokensTable)
	}
	if cfg.SummaryTable != "" {
		summary := store.NewSummary(client, store.SummaryOptions{
			Table: cfg.SummaryTable, EventsTable: cfg.EventsTable, EventShards: cfg.EventShards,
			Retention: cfg.RollupRetention,
		})
		opts.Stale, deps.Summary = summary, summary
		opts.Totals = &walk.Counter{Summary: summary, Now: time.Now}
	}
	deps.Events = store.NewEvents(client, opts)
	return deps, nil
}

// Start runs one Lambda function: it builds the dependencies once per cold start and
// serves the handler newHandler makes from them.
func Start(newHandler func(api.Deps) api.Handler) {
	deps, _ := Load(false)
	lambda.Start(GatewayHandler(newHandler(deps)))
}

// GatewayHandler serves API Gateway's payload format 2.0 invocations to h as a
// lambda.Handler: the event is decoded where it lies in the invocation payload, and the
// response encoded byte for byte as aws-lambda-go encodes it (no HTML escaping).
// aws-lambda-go's own reflection first copies the whole payload into a json.Decoder's
// buffer, which for the largest ingest request is one more 6 MB copy held while the
// request is served. An error is an invocation that is no API Gateway event, which
// Lambda reports as a function error, as it would have before.
type GatewayHandler api.Handler

// Invoke implements lambda.Handler.
func (h GatewayHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte{'\n'}), nil
}

// StartAuthorizer runs the authorizer function, which needs TOKENS_TABLE.
func StartAuthorizer(newHandler func(api.Deps) api.AuthorizerHandler) {
	deps, _ := Load(true)
	lambda.Start(newHandler(deps))
}

// Load builds one Lambda process's dependencies from its environment (config.Load), with
// the tokens table required when needTokens. A configuration it cannot start with is
// logged and exits the process with status 1, which Lambda reports as a failed init.
func Load(needTokens bool) (api.Deps, config.Config) {
	cfg, err := config.Load(os.Getenv)
	log := NewLogger(os.Stdout, cfg.LogLevel)
	if err == nil && needTokens && cfg.TokensTable == "" {
		err = fmt.Errorf("%s is not set: name the DynamoDB tokens table", config.EnvTokensTable)
	}
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	deps, err := NewDeps(context.Background(), cfg, log)
	if err != nil {
		log.Error("start", "error", fmt.Sprint(err))
		os.Exit(1)
	}
	return deps, cfg
}
