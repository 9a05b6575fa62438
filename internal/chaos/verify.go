package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// verify reads back through the API everything stored and the stats, and fills in the
// Summary's store-side figures.
func verify(ctx context.Context, hc *http.Client, base string, span timeSpan, rec *recorder, sum *Summary) error {
	stored := map[string]int{}
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			Next *string `json:"next"`
		}
		if err := get(ctx, hc, base+"/telemetry?"+q.Encode(), rec, &page); err != nil {
			return err
		}
		for _, it := range page.Items {
			stored[it.ID]++
		}
		if page.Next == nil || *page.Next == "" {
			break
		}
		cursor = *page.Next
	}
	// Stats read every event they count, within the function's deadline like any request;
	// windows of the span keep each read small enough for that, and together they cover
	// every event once (since and until are both inclusive, hence the microsecond).
	windows := max(1, len(stored)/statsWindowEvents)
	step := span.to.Sub(span.from)/time.Duration(windows) + time.Microsecond
	for w := span.from; w.Before(span.to); w = w.Add(step) {
		q := url.Values{"group_by": {"runtime"}, "since": {stamp(w)}, "until": {stamp(w.Add(step - time.Microsecond))}}
		var rows []struct {
			Total int `json:"total"`
		}
		if err := get(ctx, hc, base+"/telemetry/stats?"+q.Encode(), rec, &rows); err != nil {
			return err
		}
		for _, r := range rows {
			sum.StatsTotal += r.Total
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	sum.Stored = len(stored)
	for id, n := range stored {
		sum.Doubled += n - 1
		if !rec.acked[id] {
			sum.Unexpected++
		}
	}
	for id := range rec.acked {
		if stored[id] == 0 {
			sum.Lost++
		}
	}
	sum.BadErrors, sum.Requests = rec.badErrors, rec.requests
	return nil
}

// get reads one GET answer into out, resending after Retry-After a few times: the store
// is calm by now, but DynamoDB Local may still be warming up after its restart.
func get(ctx context.Context, hc *http.Client, u string, rec *recorder, out any) error {
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("verify: GET %s: %w", u, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("verify: GET %s: %w", u, err)
		}
		rec.answer(resp.StatusCode, body)
		if resp.StatusCode == http.StatusOK {
			return json.Unmarshal(body, out)
		}
		if attempt == 5 || resp.StatusCode < 500 {
			return fmt.Errorf("verify: GET %s: %d %s", u, resp.StatusCode, body)
		}
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
}

// statsWindowEvents is about how many events one stats request of the check reads.
const statsWindowEvents = 2000

// timeSpan holds every event's ts: from ≤ ts < to.
type timeSpan struct{ from, to time.Time }

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }
