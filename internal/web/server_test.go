package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/devgateway"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// simulated is the traffic every server here starts with: two days up to now, so the
// dashboard, which asks for windows ending at the browser's clock, finds it.
const (
	simulatedEvents = 3000
	simulatedSpan   = 48 * time.Hour
)

// brokenDevice is the simulation's device that never boots (internal/simulate's world).
const brokenDevice = "mt8192-asurada-spherion-r0-cbg-1"

// The server's traffic departs from the simulation's in two ways, so that the summary
// has a baseline anomaly and a silence to show: newlyBroken, healthy for two days, has
// failed every job of the last hour (its device type rises far above its own baseline),
// and silencedLab has sent nothing for the last silencedFor.
const (
	newlyBroken     = "beaglebone-black-lab-baylibre-01"
	newlyBrokenType = "beaglebone-black"
	newlyBrokenLab  = "lava-baylibre"
	newlyBrokenJobs = 12
	silencedLab     = "lava-qualcomm"
	silencedFor     = 8 * time.Hour
)

// departures applies the two departures above to evs, simulated up to now.
func departures(evs []telemetry.Event, now time.Time) []telemetry.Event {
	out := evs[:0]
	for _, e := range evs {
		if e.Runtime == silencedLab && !e.TS.Before(now.Add(-silencedFor)) {
			continue
		}
		out = append(out, e)
	}
	for i := range newlyBrokenJobs {
		d := 30.0
		out = append(out, telemetry.Event{
			ID: fmt.Sprintf("newly-broken-%d", i), Kind: telemetry.KindJobResult, Runtime: newlyBrokenLab,
			TS:         now.Add(-time.Duration(newlyBrokenJobs-i) * 4 * time.Minute).Truncate(time.Microsecond),
			DeviceType: newlyBrokenType, DeviceID: newlyBroken, JobName: "baseline-arm", Arch: "arm",
			Result: telemetry.ResultIncomplete, IsInfraError: true, Duration: &d,
			ErrorType: "Infrastructure", ErrorMsg: "auto-login-action timed out after 120 seconds",
		})
	}
	return out
}

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

// server is every route of routes.All behind the local gateway and its authorizer (the
// code path of `make dev`), over DynamoDB Local holding the simulated traffic, rolled up
// once so GET /telemetry/summary has a snapshot to answer with.
type server struct {
	URL    string
	faults *faulty
	// token has every scope; readOnly has only read, for the 403 of a POST.
	token, readOnly string
	// client sends token on every request, as the dashboard does once given it.
	client *http.Client
}

// bearer adds "Authorization: Bearer <token>" to every request it sends.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// newToken stores a new token with scopes and returns it.
func newToken(t *testing.T, tokens *store.Tokens, name string, scopes ...auth.Scope) string {
	t.Helper()
	token := auth.NewToken()
	if err := tokens.Create(t.Context(), auth.Token{Name: name, Hash: auth.Hash(token), Scopes: scopes, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return token
}

func newServer(t *testing.T) *server {
	t.Helper()
	tables := dynamotest.NewTables(t)
	faults := &faulty{DynamoAPI: dynamotest.Client(t)}
	// The summary table is written without faults: they are for the requests a test sends.
	summary := store.NewSummary(dynamotest.Client(t), store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 4})
	evStore := store.NewEvents(faults, store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 4,
		Retention: 14 * 24 * time.Hour, CursorSecret: []byte("test cursor secret"),
		// Short pauses: the throttled rows retry until the attempts run out.
		Backoff: store.Backoff{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond},
		Stale:   summary,
	})
	now := time.Now().UTC()
	evs, err := simulate.Generate(simulate.Options{Seed: 13, Events: simulatedEvents, Start: now.Add(-simulatedSpan), End: now})
	if err != nil {
		t.Fatal(err)
	}
	evs = departures(evs, now)
	for i := range evs {
		evs[i].ReceivedAt = now
	}
	if _, err := evStore.PutEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	tokens := store.NewTokens(dynamotest.Client(t), tables.Tokens)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	deps := api.Deps{Events: evStore, Summary: summary, Tokens: tokens, Retention: 14 * 24 * time.Hour, Log: log, Now: time.Now}
	// One run of the rollup function's job, as the schedule of `make dev` runs it.
	if err := rollup.NewScheduled(deps)(t.Context()); err != nil {
		t.Fatal(err)
	}
	g, err := devgateway.New(routes.All, deps, log)
	if err != nil {
		t.Fatal(err)
	}
	g.UseAuthorizer(devgateway.NewAuthorizer(api.NewAuthorizer(deps), api.AuthorizerCacheTTL, false, time.Now))
	hs := httptest.NewServer(g)
	t.Cleanup(hs.Close)
	token := newToken(t, tokens, "web-test", auth.ScopeIngest, auth.ScopeRead)
	return &server{URL: hs.URL, faults: faults, token: token,
		readOnly: newToken(t, tokens, "web-test-read", auth.ScopeRead),
		client:   &http.Client{Transport: bearer{token: token}}}
}
