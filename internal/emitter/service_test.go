package emitter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/devgateway"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/emitter"
	"github.com/pipetel/pipetel/internal/routes"
	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

var serviceNow = time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)

// refuseFirstSend stands in front of the service like an overloaded gateway: it answers
// the first send of every batch (known by its first event's id) with 503, whatever order
// concurrent workers send them in, and passes everything else to the service.
type refuseFirstSend struct {
	next    http.Handler
	mu      sync.Mutex
	refused map[string]bool
}

func (f *refuseFirstSend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var events []struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &events)
	f.mu.Lock()
	refuse := len(events) > 0 && !f.refused[events[0].ID]
	if refuse {
		f.refused[events[0].ID] = true
	}
	f.mu.Unlock()
	if refuse {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"detail":"The store is busy; resend after the pause in Retry-After.","request_id":"x"}`)
		return
	}
	f.next.ServeHTTP(w, r)
}

// TestPostAllAgainstTheService: the emitter resends what the service refused, and loading
// the same events again stores nothing twice, as the service itself judges duplicates.
func TestPostAllAgainstTheService(t *testing.T) {
	tables := dynamotest.NewTables(t)
	events := store.NewEvents(dynamotest.Client(t), store.EventsOptions{
		Table: tables.Events, EventShards: 4, RuntimeShards: 3, KindShards: 3,
		Retention: 14 * 24 * time.Hour, CursorSecret: []byte("k"),
		Now: func() time.Time { return serviceNow },
	})
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tokens := store.NewTokens(dynamotest.Client(t), tables.Tokens)
	deps := api.Deps{Events: events, Tokens: tokens, Log: log, Now: func() time.Time { return serviceNow }}
	gw, err := devgateway.New(routes.All, deps, log)
	if err != nil {
		t.Fatal(err)
	}
	// Behind the authorizer, as make dev and a deployment: the emitter sends its token.
	gw.UseAuthorizer(devgateway.NewAuthorizer(api.NewAuthorizer(deps), api.AuthorizerCacheTTL, false, time.Now))
	token := auth.NewToken()
	if err := tokens.Create(t.Context(), auth.Token{Name: "emitter", Hash: auth.Hash(token), Scopes: []auth.Scope{auth.ScopeIngest}, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	front := &refuseFirstSend{next: gw, refused: map[string]bool{}}
	srv := httptest.NewServer(front)
	defer srv.Close()

	evs, err := simulate.Generate(simulate.Options{Seed: 2, Events: 1000, Start: serviceNow.Add(-time.Hour), End: serviceNow})
	if err != nil {
		t.Fatal(err)
	}
	batches, err := emitter.Batches(evs, 100)
	if err != nil {
		t.Fatal(err)
	}
	c := &emitter.Client{URL: srv.URL + "/telemetry", HTTP: srv.Client(), Token: token}
	calls := 0
	res, err := c.PostAll(context.Background(), batches, 3, func(emitter.Result) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 1000 || res.Inserted != 1000 || res.Duplicates != 0 || res.Resends != 10 {
		t.Errorf("result %+v, want 1000 events inserted after 10 resends", res)
	}
	if calls != len(batches) {
		t.Errorf("progress called %d times for %d batches", calls, len(batches))
	}

	// Loading again stores nothing twice: the service answers every event a duplicate.
	res, err = c.PostAll(context.Background(), batches, 3, nil)
	if err != nil || res.Inserted != 0 || res.Duplicates != 1000 || res.Resends != 0 {
		t.Errorf("second load: %+v, %v; want 1000 duplicates", res, err)
	}
	stored := 0
	if err := events.EachEvent(t.Context(), telemetry.Filter{}, func(telemetry.Event) error {
		stored++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stored != 1000 {
		t.Errorf("%d events stored after two loads, want 1000", stored)
	}
}
