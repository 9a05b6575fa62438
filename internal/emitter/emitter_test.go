package emitter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
)

var now = time.Date(2026, 8, 20, 12, 0, 0, 0, time.UTC)

// What the emitter sends, the API accepts as the same events: the wire format loses
// nothing the simulator sets.
func TestEncodedEventsDecodeAsThemselves(t *testing.T) {
	events, err := simulate.Generate(simulate.Options{Seed: 5, Events: 2000, Start: now.Add(-48 * time.Hour), End: now})
	if err != nil {
		t.Fatal(err)
	}
	body, err := Encode(events)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := telemetry.DecodeBatch(body, now)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range decoded {
		if len(d.Errors) > 0 || len(d.UnknownFields) > 0 {
			t.Fatalf("event %d: errors %v, unknown fields %v", i, d.Errors, d.UnknownFields)
		}
		want, got := events[i], d.Event
		got.ReceivedAt = want.ReceivedAt
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if string(wj) != string(gj) {
			t.Fatalf("event %d came back as\n%s\nwant\n%s", i, gj, wj)
		}
	}
	if strings.Contains(string(body), ":null") {
		t.Error("the body carries nulls; emitters leave absent fields out")
	}
}

func TestBatchesSplitAtSize(t *testing.T) {
	events, _ := simulate.Generate(simulate.Options{Seed: 1, Events: 120, Start: now.Add(-time.Hour), End: now})
	batches, err := Batches(events, 50)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, b := range batches {
		var elems []json.RawMessage
		if err := json.Unmarshal(b.Body, &elems); err != nil || len(elems) != b.Events {
			t.Fatalf("batch of %d holds %d elements (%v)", b.Events, len(elems), err)
		}
		sizes = append(sizes, b.Events)
	}
	if len(sizes) != 3 || sizes[0] != 50 || sizes[1] != 50 || sizes[2] != 20 {
		t.Errorf("batch sizes %v, want [50 50 20]", sizes)
	}
	if _, err := Batches(events, 0); err == nil {
		t.Error("batches of 0 events")
	}
}

// TestPostAllAgainstTheService (service_test.go) covers resending and duplicates against
// the service itself.

func TestPostStopsAtAnAnswerResendingCannotFix(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"detail":"3 of 50 events are invalid.","request_id":"x"}`)
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL, HTTP: srv.Client()}
	_, err := c.Post(context.Background(), Batch{Events: 1, Body: []byte(`[{}]`)})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 400 || se.Detail != "3 of 50 events are invalid." {
		t.Errorf("error %v, want the API's 400 and its detail", err)
	}
}

// A write that outlived the request's deadline can land after the service answered 503
// with it in not_stored: the resend then finds it stored. The service's probe had found it
// absent, so it is this batch's own write, inserted, never "already there".
func TestLateWritesOfNotStoredEventsAreInserted(t *testing.T) {
	answers := []string{
		`{"inserted":1,"duplicates":0,"not_stored":[{"index":1},{"index":2}]}`,
		`{"inserted":0,"duplicates":2,"ids":["b","c"]}`,
	}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if n == 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, answers[n])
		n++
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL, HTTP: srv.Client(), Attempts: 5, MaxWait: time.Millisecond}
	res, err := c.Post(context.Background(), Batch{Events: 3, Body: []byte(`[{"id":"a"},{"id":"b"},{"id":"c"}]`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 3 || res.Duplicates != 0 || res.Unconfirmed != 0 {
		t.Errorf("%+v; want 3 inserted: a at once, b and c by the first send's late writes", res)
	}
}

// A gateway's 502 or 504 names nothing, and the function may have stored any part of the
// batch before it failed or ran out of time: the whole batch is sent again, and what the
// resend finds already there cannot be told apart from events there before the load.
func TestGatewayErrorsResendTheWholeBatch(t *testing.T) {
	// A 503 after the 504 does not make the first send's outcome known.
	for _, statuses := range [][]int{{http.StatusBadGateway}, {http.StatusGatewayTimeout}, {http.StatusGatewayTimeout, http.StatusServiceUnavailable}} {
		t.Run(fmt.Sprint(statuses), func(t *testing.T) {
			var sent []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				sent = append(sent, string(b))
				if len(sent) <= len(statuses) {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(statuses[len(sent)-1])
					_, _ = io.WriteString(w, `{"detail":"The function serving this route ran past its timeout before answering.","request_id":"x"}`)
					return
				}
				_, _ = io.WriteString(w, `{"inserted":1,"duplicates":2,"ids":["a","b","c"]}`)
			}))
			defer srv.Close()
			c := &Client{URL: srv.URL, HTTP: srv.Client(), Attempts: 5, MaxWait: time.Millisecond}
			batch := `[{"id":"a"},{"id":"b"},{"id":"c"}]`
			res, err := c.Post(context.Background(), Batch{Events: 3, Body: []byte(batch)})
			if err != nil {
				t.Fatal(err)
			}
			if len(sent) != len(statuses)+1 || sent[len(sent)-1] != batch {
				t.Errorf("sent %q; want the whole batch every time", sent)
			}
			if res.Inserted != 1 || res.Duplicates != 0 || res.Unconfirmed != 2 || res.Resends != len(statuses) {
				t.Errorf("%+v; want 1 inserted, 2 unconfirmed, no duplicates, %d resends", res, len(statuses))
			}
		})
	}
}

func TestLoadDemoSpreadsEventsOverTheSpan(t *testing.T) {
	var mu sync.Mutex
	var got []telemetry.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		decoded, err := telemetry.DecodeBatch(body, now)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, d := range decoded {
			got = append(got, d.Event)
		}
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]int{"inserted": len(decoded)})
	}))
	defer srv.Close()
	var progress strings.Builder
	res, err := LoadDemo(context.Background(), DemoOptions{
		URL: srv.URL, Events: 700, Seed: 1, Span: 48 * time.Hour, Batch: 100, Workers: 2, Now: now, HTTP: srv.Client(),
	}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 700 || len(got) != 700 {
		t.Fatalf("%d inserted, %d received", res.Inserted, len(got))
	}
	var oldest, newest time.Time
	for _, e := range got {
		if oldest.IsZero() || e.TS.Before(oldest) {
			oldest = e.TS
		}
		if e.TS.After(newest) {
			newest = e.TS
		}
	}
	if oldest.Before(now.Add(-48*time.Hour)) || !newest.Before(now) || newest.Sub(oldest) < 40*time.Hour {
		t.Errorf("events span %s to %s; want most of the 48 h before %s", oldest, newest, now)
	}
	if !strings.Contains(progress.String(), "700/700 events posted") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// TestStoredButNotCountedIsCountedOnce: an event a 503 lists in not_counted was stored; it
// is resent (so the rollups hear of it) and may be listed again, or come back as a
// duplicate, but it is one insert, never two, and never a duplicate of our own.
func TestStoredButNotCountedIsCountedOnce(t *testing.T) {
	answers := []string{
		`{"inserted":1,"duplicates":0,"not_stored":[{"index":2}],"not_counted":[{"index":0}]}`,
		`{"inserted":0,"duplicates":0,"not_stored":[{"index":0}],"not_counted":[{"index":1}]}`,
		`{"inserted":1,"duplicates":1,"ids":["a","c"]}`,
	}
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sent = append(sent, string(b))
		i := len(sent) - 1
		if i < len(answers)-1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, answers[i])
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL, HTTP: srv.Client(), Attempts: 5, MaxWait: time.Millisecond}
	res, err := c.Post(context.Background(), Batch{Events: 3, Body: []byte(`[{"id":"a"},{"id":"b"},{"id":"c"}]`)})
	if err != nil {
		t.Fatal(err)
	}
	// a: stored at once (not counted), b: stored at once, c: stored on the last try.
	if res.Inserted != 3 || res.Duplicates != 0 {
		t.Errorf("inserted %d, duplicates %d; want 3 and 0 (sent %q)", res.Inserted, res.Duplicates, sent)
	}
	if want := `[{"id":"c"},{"id":"a"}]`; len(sent) < 2 || sent[1] != want {
		t.Errorf("second send %q, want the not-stored and not-counted events %s", sent, want)
	}
}
