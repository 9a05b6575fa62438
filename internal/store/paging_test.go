package store_test

import (
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
