package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/devgateway"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
)

// simulated is the traffic every server here starts with: two days up to now, so the
// dashboard, which asks for windows ending at the browser's clock, finds it.
const (
	simulatedEvents = 3000
	simulatedSpan   = 48 * time.Hour
)

// brokenDevice is the simulation's device that never boots (internal/simulate's world).
const brokenDevice = "mt8192-asurada-spherion-r0-cbg-1"

// fault is what the store's client does to every call while a test has it set.
type fault int32

const (
	faultNone     fault = iota
	faultThrottle       // every call is refused as DynamoDB refuses an overloaded partition
	faultBreak          // every call fails with an error that is not the client's to fix
)

// faulty lets a test switch a fault on and off around one request of a running server.
type faulty struct {
	store.DynamoAPI
	mode atomic.Int32
}

func (f *faulty) err() error {
	switch fault(f.mode.Load()) {
	case faultThrottle:
		return &types.ProvisionedThroughputExceededException{Message: aws.String("injected throttling")}
	case faultBreak:
		return errors.New("injected failure")
	}
	return nil
}

func (f *faulty) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.DynamoAPI.Query(ctx, in, o...)
}

func (f *faulty) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.DynamoAPI.BatchWriteItem(ctx, in, o...)
}

func (f *faulty) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.DynamoAPI.BatchGetItem(ctx, in, o...)
}

// TestSimulatedServer checks one server holding simulated traffic two ways: every
// route's real answers against the OpenAPI description, and the dashboard in a browser.
// One server for both, because loading the traffic is most of the cost.
func TestSimulatedServer(t *testing.T) {
	s := newServer(t)
	t.Run("dashboard", func(t *testing.T) { checkDashboard(t, s) })
	t.Run("openapi", func(t *testing.T) { checkOpenAPI(t, s) })
}

// server is every route of routes.All behind the local gateway (the code path of `make
// dev`), over DynamoDB Local holding the simulated traffic.
type server struct {
	URL    string
	faults *faulty
	// summary is the stand-in for GET /telemetry/summary while routes.All has no such
	// route; nil once it has.
	summary *summaryStandIn
}

const summaryPath = "/telemetry/summary"

// summaryStandIn answers GET /telemetry/summary as a deployment without the route does
// (404 in the error shape) until a test gives it a body to answer 200 with, so the
// dashboard's summary section can be seen both hidden and shown.
type summaryStandIn struct{ body atomic.Pointer[string] }

func (s *summaryStandIn) route() api.Route {
	return api.Route{Method: "GET", Path: summaryPath, Function: "summary", New: func(api.Deps) api.Handler {
		return func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			if b := s.body.Load(); b != nil {
				return api.JSON(http.StatusOK, json.RawMessage(*b)), nil
			}
			return api.GatewayError(http.StatusNotFound, nil, req.RequestContext.RequestID), nil
		}
	}}
}

func newServer(t *testing.T) *server {
	t.Helper()
	tables := dynamotest.NewTables(t)
	faults := &faulty{DynamoAPI: dynamotest.Client(t)}
	evStore := store.NewEvents(faults, store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 4,
		Retention: 14 * 24 * time.Hour, CursorSecret: []byte("test cursor secret"),
		// Short pauses: the throttled rows retry until the attempts run out.
		Backoff: store.Backoff{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond},
	})
	now := time.Now().UTC()
	evs, err := simulate.Generate(simulate.Options{Seed: 13, Events: simulatedEvents, Start: now.Add(-simulatedSpan), End: now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].ReceivedAt = now
	}
	if _, err := evStore.PutEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	all := slices.Clone(routes.All)
	var summary *summaryStandIn
	if !slices.ContainsFunc(all, func(r api.Route) bool { return r.Method == "GET" && r.Path == summaryPath }) {
		summary = &summaryStandIn{}
		all = append(all, summary.route())
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	g, err := devgateway.New(all, api.Deps{Events: evStore, Log: log, Now: time.Now}, log)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g)
	t.Cleanup(hs.Close)
	return &server{URL: hs.URL, faults: faults, summary: summary}
}
