package telemetry

import "testing"

func TestInvalidProblemsIsOneSentence(t *testing.T) {
	for _, c := range []struct {
		problems []string
		want     string
	}{
		{[]string{"limit must be a whole number"}, "limit must be a whole number."},
		{[]string{"limit must be a whole number", "since must be a time"}, "limit must be a whole number; since must be a time."},
		{nil, ""}, // no problem, no sentence: not a lone full stop
	} {
		if got := InvalidProblems(c.problems, nil).Message; got != c.want {
			t.Errorf("InvalidProblems(%q) = %q, want %q", c.problems, got, c.want)
		}
	}
}
