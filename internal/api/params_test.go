package api_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
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
