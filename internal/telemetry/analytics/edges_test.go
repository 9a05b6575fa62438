package analytics_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestSilentGroupsLongestSilentFirst: the silent list leads with the group silent longest,
// whatever the order of the groups' names, as an operator reads it top down.
func TestSilentGroupsLongestSilentFirst(t *testing.T) {
	h := analytics.NewHistory(analytics.BaselineParams{}, baselineNow)
	n := 0
	// lab-b fell silent 6 h ago, lab-a 3 h ago, lab-c 4 h ago; all sent every 5 minutes before.
	for runtime, gap := range map[string]time.Duration{"lab-a": 3 * time.Hour, "lab-b": 6 * time.Hour, "lab-c": 4 * time.Hour} {
		last := baselineNow.Add(-gap)
		for ts := last.Add(-24 * time.Hour); !ts.After(last); ts = ts.Add(5 * time.Minute) {
			h.Add(&telemetry.Event{ID: fmt.Sprint(n), Kind: telemetry.KindJobResult, Runtime: runtime, TS: ts})
			n++
		}
	}
	var got []string
	for _, g := range h.Silent() {
		got = append(got, g.Runtime)
	}
	if want := []string{"lab-b", "lab-c", "lab-a"}; !slices.Equal(got, want) {
		t.Errorf("silent %q, want %q: longest silent first", got, want)
	}
}

// TestDefaultFlakyParamsAreTheDocumentedOnes compares DefaultFlakyParams with what its
// comment promises, field by field.
func TestDefaultFlakyParamsAreTheDocumentedOnes(t *testing.T) {
	want := analytics.FlakyParams{Window: 24 * time.Hour, LastN: 10, MinRuns: 4, MinTransitions: 2,
		Every: 10 * time.Minute, MaxEvents: 50_000, MaxRows: 25}
	if got := analytics.DefaultFlakyParams(); got != want {
		t.Errorf("DefaultFlakyParams() = %+v, want %+v", got, want)
	}
}

// TestFlakyParamsWithDefaultsFillsOnlyTheZeroFields: every zero field takes the default,
// every field set is kept.
func TestFlakyParamsWithDefaultsFillsOnlyTheZeroFields(t *testing.T) {
	set := analytics.FlakyParams{Window: time.Hour, LastN: 3, MinRuns: 2, MinTransitions: 1, Every: time.Minute, MaxEvents: 7, MaxRows: 5}
	for _, c := range []struct {
		name    string
		p, want analytics.FlakyParams
	}{
		{"zero", analytics.FlakyParams{}, analytics.DefaultFlakyParams()},
		{"all set", set, set},
	} {
		if got := c.p.WithDefaults(); got != c.want {
			t.Errorf("%s: WithDefaults() = %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestMinerTakesOneWordMessages: a message of one token, shorter than the
// SignaturePrefixTokens a signature is routed by, has a signature of its own.
func TestMinerTakesOneWordMessages(t *testing.T) {
	m := analytics.NewMiner(nil)
	a, b := m.Add("timeout"), m.Add("timeout")
	if a == "" || a != b || m.Template(a) != "timeout" {
		t.Errorf("ids %q, %q, template %q; want one signature \"timeout\"", a, b, m.Template(a))
	}
	if other := m.Add("oops"); other == a {
		t.Error("two different one-word messages share a signature")
	}
}

// TestStepEpisodesListsByKey: Open and Resolved are by key, as EpisodeStep says, whatever
// the order of the open episodes given, so the state stored does not depend on it.
func TestStepEpisodesListsByKey(t *testing.T) {
	open := []analytics.Episode{{Key: "c", Since: "t0", Confirmed: "t0"}, {Key: "a", Since: "t0", Confirmed: "t0"},
		{Key: "z", Since: "t0", Confirmed: "t0"}, {Key: "y", Since: "t0", Confirmed: "t0"}}
	s := analytics.StepEpisodes(open, map[string]bool{"c": true, "b": true, "a": true}, "t1", 1)
	var keys []string
	for _, ep := range s.Open {
		keys = append(keys, ep.Key)
	}
	for _, ep := range s.Resolved {
		keys = append(keys, ep.Key)
	}
	if want := []string{"a", "b", "c", "y", "z"}; !slices.Equal(keys, want) {
		t.Errorf("open then resolved %q, want %q", keys, want)
	}
}
