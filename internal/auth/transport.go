package auth

import "net/http"

// Transport sends every request with "Authorization: Bearer <Token>", as KernelCI's clients
// send their token, through Next (http.DefaultTransport when nil). For pipetel's own
// clients: the bench, the chaos suite.
type Transport struct {
	Token string
	Next  http.RoundTripper
}

// RoundTrip adds the header to a copy of r, leaving the caller's request unchanged as
// http.RoundTripper requires.
func (t Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.Token)
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}
