package api_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestUnknownParameterNamesWhatIsAccepted: the 400 names the parameters a route takes, or
// says it takes none (GET /metrics), rather than an empty list.
func TestUnknownParameterNamesWhatIsAccepted(t *testing.T) {
	for _, c := range []struct {
		accepted []string
		want     string
	}{
		{[]string{"at"}, "unknown parameter foo (accepted: at)"},
		{nil, "unknown parameter foo (this route takes none)"},
	} {
		p := api.NewParams(events.APIGatewayV2HTTPRequest{QueryStringParameters: map[string]string{"foo": "1"}})
		err := p.Check(c.accepted)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("accepted %v: %v, want it to say %q", c.accepted, err, c.want)
		}
	}
}

// TestEarliestSinceIsASince: since=0001-01-01T00:00:00Z is the zero time, yet a since all
// the same (all there is, rollups included); no since is not.
func TestEarliestSinceIsASince(t *testing.T) {
	for _, c := range []struct {
		query string
		given bool
	}{
		{"since=0001-01-01T00:00:00Z", true},
		{"since=0001-01-01", true},
		{"since=2026-01-01", true},
		{"until=2026-01-01", false},
		{"", false},
	} {
		p := api.NewParams(events.APIGatewayV2HTTPRequest{RawQueryString: c.query})
		f := p.Filter([]string{"since", "until"})
		if err := p.Check([]string{"since", "until"}); err != nil || f.SinceGiven != c.given {
			t.Errorf("%q: SinceGiven %v (%v), want %v", c.query, f.SinceGiven, err, c.given)
		}
	}
}

// TestEarliestUntilIsRefused: until=0001-01-01T00:00:00Z is the zero time, which stands
// for no until, so it is a 400 that says so rather than a window without an end (the
// fresh-user trial's until=0001-01-01T00:00:00Z counted every event). A until that does
// not parse gets its own problem alone.
func TestEarliestUntilIsRefused(t *testing.T) {
	for _, c := range []struct{ query, want string }{
		{"until=0001-01-01T00:00:00Z", "earliest time there is"},
		{"until=0001-01-01", "earliest time there is"},
		{"until=yesterday", "until"},
	} {
		p := api.NewParams(events.APIGatewayV2HTTPRequest{RawQueryString: c.query})
		p.Filter([]string{"until"})
		err := p.Check([]string{"until"})
		if telemetry.ErrorCode(err) != telemetry.CodeInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want a 400 saying %q", c.query, err, c.want)
		}
		if c.query == "until=yesterday" && strings.Contains(err.Error(), "earliest") {
			t.Errorf("%q: %v, want only the parse problem", c.query, err)
		}
	}
	p := api.NewParams(events.APIGatewayV2HTTPRequest{RawQueryString: "until=0001-01-01T00:00:00.000001Z"})
	if f := p.Filter([]string{"until"}); p.Check([]string{"until"}) != nil || f.Until.IsZero() {
		t.Errorf("a microsecond after the zero time: %v, want it taken as until", f.Until)
	}
}

// TestRetryFilterTakesEveryStoredRetry: a query can ask for any retry ingest stores,
// negative ones and the bound included; past the bound nothing is stored, so it is a 400.
func TestRetryFilterTakesEveryStoredRetry(t *testing.T) {
	for _, c := range []struct {
		query string
		want  int
		ok    bool
	}{
		{"retry=-3", -3, true}, {"retry=2147483647", 2147483647, true}, {"retry=-2147483647", -2147483647, true},
		{"retry=2147483648", 0, false}, {"retry=x", 0, false},
	} {
		p := api.NewParams(events.APIGatewayV2HTTPRequest{RawQueryString: c.query})
		f := p.Filter([]string{"retry"})
		err := p.Check([]string{"retry"})
		if (err == nil) != c.ok || (c.ok && (f.Retry == nil || *f.Retry != c.want)) {
			t.Errorf("%s: retry %v, error %v; want %d, ok %v", c.query, f.Retry, err, c.want, c.ok)
		}
	}
}
