package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestPagesWithUntilNeverRepeat: paging through a filter with until (and with since),
// newest first and oldest first, visits every event it matches once, in order: each page
// resumes after its cursor, within the range's own bound.
func TestPagesWithUntilNeverRepeat(t *testing.T) {
	s := newEvents(t, nil)
	evs := makeEvents(60, "u")
	put(t, s, evs)
	for _, f := range []telemetry.Filter{
		{Until: evs[40].TS},
		{Since: evs[10].TS, Until: testNow.Add(time.Hour)},
		{Until: testNow.Add(time.Hour), Equals: map[string]string{"kind": evs[0].Kind}},
	} {
		for _, desc := range []bool{true, false} {
			want := expected(evs, f)
			if !desc {
				want = oldestFirst(want)
			}
			got := pageAll(t, s, f, desc)
			if !slices.Equal(got, want) {
				t.Errorf("until %s, since %s, newest first %v: %d ids, want %d\n got %v\nwant %v", f.Until, f.Since, desc, len(got), len(want), head(got), head(want))
			}
		}
	}
}

func pageAll(t *testing.T, s *store.Events, f telemetry.Filter, desc bool) []string {
	t.Helper()
	var ids []string
	req := telemetry.PageRequest{Limit: 7, Desc: desc}
	for range 100 {
		page, err := s.QueryEvents(t.Context(), f, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			ids = append(ids, e.ID)
		}
		if page.Next == "" {
			return ids
		}
		req.Cursor = page.Next
	}
	t.Fatal("more than 100 pages")
	return nil
}

// TestRollupsAreKept400Days: rollups are kept 400 days by default, as README.md's
// ROLLUP_RETENTION_DAYS (400) says and the trends' longest range (400d) reads.
func TestRollupsAreKept400Days(t *testing.T) {
	if store.DefaultRollupRetention != 400*24*time.Hour {
		t.Errorf("DefaultRollupRetention %s, want 400 days (9600h)", store.DefaultRollupRetention)
	}
}

// TestFirstPageNotFullIsItsOwnTotal: a first page that holds every match is the total,
// exactly, and the count beside it is stopped, so a sparse query does not pay for its
// count. The counter here answers a wrong total at once, or waits until it is stopped;
// a full page still takes the counter's total.
func TestFirstPageNotFullIsItsOwnTotal(t *testing.T) {
	evs := makeEvents(12, "t")
	for _, c := range []struct {
		name      string
		counter   *fixedCounter
		limit     int
		wantTotal int
	}{
		{"page not full, wrong count at once", &fixedCounter{n: 999}, 50, 12},
		{"page not full, count waits to be stopped", &fixedCounter{waitForStop: true}, 50, 12},
		{"page full", &fixedCounter{n: 999}, 5, 999},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newEventsWith(t, func(o *store.EventsOptions) { o.Totals = c.counter }, nil)
			put(t, s, evs)
			// A bound on a regression that never stops the count, not a synchronisation.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			page, err := s.QueryEvents(ctx, telemetry.Filter{Since: testNow.Add(-48 * time.Hour)}, telemetry.PageRequest{Limit: c.limit, Desc: true})
			if err != nil {
				t.Fatalf("query: %v (a count that is never stopped runs until the query's deadline)", err)
			}
			if page.Total != c.wantTotal || !page.TotalExact {
				t.Errorf("total %d (exact %v), want %d exact; %d items on the page", page.Total, page.TotalExact, c.wantTotal, len(page.Items))
			}
		})
	}
}

// fixedCounter is a telemetry.TotalCounter that answers n, or, with waitForStop, waits
// until its context is done and answers its error.
type fixedCounter struct {
	n           int
	waitForStop bool
}

func (c *fixedCounter) CountEvents(ctx context.Context, _ telemetry.Filter, _ telemetry.RawCount) (telemetry.Total, bool, error) {
	if c.waitForStop {
		<-ctx.Done()
		return telemetry.Total{}, true, ctx.Err()
	}
	return telemetry.Total{N: c.n, Exact: true}, true, nil
}
