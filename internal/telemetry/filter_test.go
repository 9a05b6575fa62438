package telemetry

import (
	"testing"
	"time"
)

// TestFilterMatches checks each condition of Filter.Matches on its own, at its bounds: it
// is the reference the store's DynamoDB expressions are tested against, so it must be
// right by itself.
func TestFilterMatches(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	e := &Event{Kind: "job", Runtime: "lava-collabora", TS: at, IsInfraError: true, Retry: 2}
	yes, no := true, false
	two, one := 2, 1
	for _, c := range []struct {
		name string
		f    Filter
		want bool
	}{
		{"zero filter", Filter{}, true},
		{"field equal", Filter{Equals: map[string]string{"runtime": "lava-collabora"}}, true},
		{"field different", Filter{Equals: map[string]string{"runtime": "lava-baylibre"}}, false},
		{"two fields, one different", Filter{Equals: map[string]string{"kind": "job", "runtime": "x"}}, false},
		{"field the event lacks", Filter{Equals: map[string]string{"arch": "arm64"}}, false},
		{"infra error wanted", Filter{IsInfraError: &yes}, true},
		{"infra error not wanted", Filter{IsInfraError: &no}, false},
		{"retry equal", Filter{Retry: &two}, true},
		{"retry different", Filter{Retry: &one}, false},
		{"since at the event", Filter{Since: at}, true},
		{"since just after", Filter{Since: at.Add(time.Microsecond)}, false},
		{"until at the event", Filter{Until: at}, true},
		{"until just before", Filter{Until: at.Add(-time.Microsecond)}, false},
	} {
		if got := c.f.Matches(e); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
	}
}
