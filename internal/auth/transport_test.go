package auth_test

import (
	"net/http"
	"testing"

	"github.com/pipetel/pipetel/internal/auth"
)

// roundTripFunc is an http.RoundTripper from a function, to see what Transport passes on.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportAddsTheBearerHeaderToACopy(t *testing.T) {
	var sent *http.Request
	tr := auth.Transport{Token: "ptl_x", Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://127.0.0.1:1/telemetry", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if got := sent.Header.Get("Authorization"); got != "Bearer ptl_x" {
		t.Errorf("sent Authorization %q, want %q", got, "Bearer ptl_x")
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("the caller's request was changed: Authorization %q", got)
	}
}

func TestTransportDefaultsToHTTPDefaultTransport(t *testing.T) {
	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://127.0.0.1:1/telemetry", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 refuses: the error shows a real transport was used, not a nil one.
	if _, err := (auth.Transport{Token: "ptl_x"}).RoundTrip(req); err == nil {
		t.Error("a request to a closed port succeeded")
	}
}
