package rollup_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup/walk"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestBucketHoldingNowIsItsRowUntilNewEventsReachIt: a refresh of the last 24 hours in a
// lull reads the bucket holding now from its row, not its raw events, and the answer
// still equals the raw computation once events reach that bucket again (read raw) and
// one is stamped ahead of now (its unit read until rolled up, then its row).
func TestBucketHoldingNowIsItsRowUntilNewEventsReachIt(t *testing.T) {
	now := dataStart.Add(30*time.Hour + 150*time.Second) // 2.5 minutes into a bucket
	e := newEnv(t, now)
	since := walk.Floor(now).Add(-24 * time.Hour) // no partial bucket at the start
	e.put(t, generate(t, 31, 600, since, now, now))
	// Dense in the bucket holding now.
	e.put(t, generate(t, 32, 120, walk.Floor(now), now, now))
	e.runAll(t, e.summary, "")

	f := telemetry.Filter{Since: since}
	ask := func(stage string) (events int) {
		t.Helper()
		acc, ans, ok, err := e.reader.Stats(t.Context(), f, []string{"runtime"})
		if err != nil || !ok {
			t.Fatalf("%s: stats: ok %v, %v", stage, ok, err)
		}
		if got, want := marshal(t, acc.Rows()), e.rawStats(t, f, []string{"runtime"}); !bytes.Equal(got, want) {
			t.Fatalf("%s: stats differ:\nrollups %.600s\nraw     %.600s", stage, got, want)
		}
		return ans.Events
	}
	if n := ask("everything rolled up"); n != 0 {
		t.Errorf("everything rolled up: %d raw events read, want 0: the bucket holding now has a row no mark doubts", n)
	}

	// New events in the bucket holding now, and one stamped ahead of it.
	late := generate(t, 33, 40, walk.Floor(now), now, now)
	ahead := generate(t, 34, 1, now.Add(10*time.Minute), now.Add(11*time.Minute), now)
	ahead[0].ID = "stamped-ahead"
	e.put(t, append(late, ahead...))
	inBucket := 0
	if err := e.events.EachEvent(t.Context(), telemetry.Filter{Since: walk.Floor(now)}, func(telemetry.Event) error {
		inBucket++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := ask("new events in the bucket holding now"); n != inBucket {
		t.Errorf("new events in the bucket holding now: %d raw events read, want the %d of that bucket and ahead of it", n, inBucket)
	}

	// Rolled up, the event stamped ahead is a row like any other: nothing is read raw.
	e.runAll(t, e.summary, "")
	if n := ask("rolled up again"); n != 0 {
		t.Errorf("rolled up again: %d raw events read, want 0: the buckets after now are rows too", n)
	}
}
