package analytics_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestStepEpisodesFlapping: a group found in every other evaluation opens once and stays
// one episode; it resolves only once resolveAfter evaluations in a row have not found it.
func TestStepEpisodesFlapping(t *testing.T) {
	for _, c := range []struct {
		name         string
		found        string // per evaluation: x found, . not found
		resolveAfter int
		want         []string // opened/resolved per evaluation
	}{
		{name: "flapping", found: "x.x.x...", resolveAfter: 3,
			want: []string{"t0 opened", "t7 resolved since t0"}},
		{name: "without hysteresis", found: "x.x.", resolveAfter: 1,
			want: []string{"t0 opened", "t1 resolved since t0", "t2 opened", "t3 resolved since t2"}},
		{name: "steady", found: "xxxx", resolveAfter: 3, want: []string{"t0 opened"}},
		{name: "clear then back", found: "x..x...", resolveAfter: 3,
			want: []string{"t0 opened", "t6 resolved since t0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var open []analytics.Episode
			var got []string
			for i, f := range c.found {
				now := fmt.Sprint("t", i)
				found := map[string]bool{}
				if f == 'x' {
					found["k"] = true
				}
				step := analytics.StepEpisodes(open, found, now, c.resolveAfter)
				for range step.Opened {
					got = append(got, now+" opened")
				}
				for _, ep := range step.Resolved {
					got = append(got, now+" resolved since "+ep.Since)
				}
				open = step.Open
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("alerts %q, want %q", got, c.want)
			}
		})
	}
}
