package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/api/metrics"
	"github.com/pipetel/pipetel/internal/api/reports"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

// TestFaultsOfOursAreLoggedAsErrorsClientErrorsAreNot: a 500 logs its cause at error
// level, where the response never shows it, so that an operator can find it by the
// request id; a request the client got wrong is not an error of the service and logs only
// its request line.
func TestFaultsOfOursAreLoggedAsErrorsClientErrorsAreNot(t *testing.T) {
	for _, c := range []struct {
		name      string
		rawQuery  string
		status    int
		wantError bool
	}{
		{"a store fault", "runtime=x", 500, true},
		{"a bad filter", "lab=%ff%fe", 400, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newAPI(t, func(db store.DynamoAPI) store.DynamoAPI { return failingQuery{db} })
			var logged bytes.Buffer
			a.deps.Log = slog.New(slog.NewJSONHandler(&logged, nil))
			if r := call(t, api.NewQuery(a.deps), request("GET", c.rawQuery, "")); r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.raw)
			}
			var errorLines []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if rec["level"] == "ERROR" {
					errorLines = append(errorLines, rec)
				}
			}
			switch {
			case !c.wantError && len(errorLines) > 0:
				t.Errorf("a client error logged at error level: %v", errorLines)
			case c.wantError && (len(errorLines) != 1 || errorLines[0]["request_id"] != "req-test-1" ||
				!strings.Contains(fmt.Sprint(errorLines[0]["error"]), "secret internal detail")):
				t.Errorf("error lines %v, want one with the request id and the store's error\n%s", errorLines, logged.String())
			}
		})
	}
}

// TestInvalidDetailCountsOnlyTheProblemsItLeavesOut: detail names the first three
// problems and says how many more errors lists, and says nothing of more when there are
// exactly three.
func TestInvalidDetailCountsOnlyTheProblemsItLeavesOut(t *testing.T) {
	a := newAPI(t, nil)
	for _, c := range []struct {
		invalid int
		more    string
	}{
		{3, ""},
		{4, "; and 1 more problems listed in errors"},
	} {
		events := strings.TrimSuffix(strings.Repeat(`{"kind":"job_result"},`, c.invalid), ",")
		r := call(t, a.ingest, request("POST", "", "["+events+"]"))
		detail, _ := r.body["detail"].(string)
		want := fmt.Sprintf(`%d of %d events are invalid, so none was stored: event 0: runtime is required, a string such as "lava-collabora"; event 1: runtime is required, a string such as "lava-collabora"; event 2: runtime is required, a string such as "lava-collabora"%s. Fix them and resend, or add ?partial=true to store the valid ones.`, c.invalid, c.invalid, c.more)
		if r.status != 400 || detail != want {
			t.Errorf("%d invalid: %d detail %q\nwant %q", c.invalid, r.status, detail, want)
		}
	}
}

// TestForbiddenNamesTheScopesTheTokenHas: a 403 says which scopes the token has, so that
// its holder knows which token they sent, and says "no scope" for a token with none.
func TestForbiddenNamesTheScopesTheTokenHas(t *testing.T) {
	a := newAPI(t, nil)
	for _, c := range []struct {
		scopes []auth.Scope
		has    string
	}{
		{nil, "and this one has no scope;"},
		{[]auth.Scope{auth.ScopeRead}, "and this one has only read;"},
		{[]auth.Scope{auth.ScopeRead, auth.ScopeAdmin}, "and this one has only read and admin;"},
	} {
		req := withDecision(request("POST", "", `[{"kind":"job_result","runtime":"x"}]`), auth.Decision{Outcome: auth.OutcomeAllowed, Name: "t", Scopes: c.scopes})
		if r := call(t, a.ingest, req); r.status != 403 || !strings.Contains(fmt.Sprint(r.body["detail"]), c.has) {
			t.Errorf("scopes %q: %d %s; want 403 saying %q", c.scopes, r.status, r.raw, c.has)
		}
	}
}

// TestMetricsNeedTheSummaryTable: GET /metrics answers from the summary table, and is a
// 503 naming SUMMARY_TABLE in a deployment without one, never a 500.
func TestMetricsNeedTheSummaryTable(t *testing.T) {
	a := newAPI(t, nil)
	tables := dynamotest.NewTables(t)
	withSummary := a.deps
	withSummary.Summary = store.NewSummary(dynamotest.Client(t), store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 4, Now: a.deps.Now})
	for _, c := range []struct {
		name    string
		deps    api.Deps
		status  int
		mention string
	}{
		{"no summary table", a.deps, 503, "SUMMARY_TABLE"},
		{"a summary table", withSummary, 200, "# TYPE"},
	} {
		req := request("GET", "", "")
		req.RawPath, req.RequestContext.HTTP.Path = metrics.Path, metrics.Path
		got := answer(t, metrics.New(c.deps), req)
		if got.StatusCode != c.status || !strings.Contains(got.Body, c.mention) {
			t.Errorf("%s: %d %.300s; want %d mentioning %q", c.name, got.StatusCode, got.Body, c.status, c.mention)
		}
	}
}

// TestIncludedArraysAreEmptyNotNull: include asks for arrays, and gets them empty, not
// null, where there is no summary snapshot to take them from.
func TestIncludedArraysAreEmptyNotNull(t *testing.T) {
	a := newAPI(t, nil)
	r := call(t, reports.NewAnomalies(a.deps), request("GET", "include=baseline,silence", ""))
	for _, want := range []string{`"baseline_anomalies":[]`, `"silent":[]`} {
		if r.status != 200 || !strings.Contains(r.raw, want) {
			t.Errorf("%d %.400s; want %s", r.status, r.raw, want)
		}
	}
}
