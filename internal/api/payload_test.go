package api

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestAcceptsGzip follows Accept-Encoding as RFC 9110 §12.5.3 reads it: gzip (or *) is
// accepted unless its q is 0, in any of the spellings of zero.
func TestAcceptsGzip(t *testing.T) {
	for _, c := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"deflate, gzip", true},
		{"*", true},
		{"gzip;q=0.5", true},
		{"br", false},
		{"gzip;q=0", false},
		{"gzip; q=0.0", false},
		{"gzip;q=0.00", false},
		{"gzip;q=0.000", false},
		{"*;q=0", false},
	} {
		req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"accept-encoding": c.header}}
		if got := acceptsGzip(req); got != c.want {
			t.Errorf("Accept-Encoding %q: acceptsGzip = %v, want %v", c.header, got, c.want)
		}
	}
}
