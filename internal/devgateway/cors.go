package devgateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORS is an HTTP API's CORS configuration (CorsConfiguration in template.yaml), which
// lets a page served from another origin, such as a CI system's own dashboard, call the
// API from a browser. As in API Gateway, the gateway answers preflight requests itself,
// adds the headers to every response to an allowed origin, and replaces any CORS header a
// function sets. Tokens travel in the Authorization header, never cookies, so credentials
// are not allowed and a page can use only a token its user gives it.
type CORS struct {
	AllowOrigins  []string // "*" for any
	AllowHeaders  []string // request headers a page may send, lower case
	AllowMethods  []string
	ExposeHeaders []string // response headers a page may read, lower case
	MaxAge        time.Duration
}

// DefaultCORS is template.yaml's CorsConfiguration with the default CorsAllowOrigins: the
// headers KernelCI's clients send and the ones pipetel's answers carry
// (template_test.go holds the two equal).
var DefaultCORS = CORS{
	AllowOrigins:  []string{"*"},
	AllowHeaders:  []string{"authorization", "content-encoding", "content-type"},
	AllowMethods:  []string{http.MethodGet, http.MethodPost},
	ExposeHeaders: []string{"apigw-requestid", "retry-after", "x-pipetel-rollup-window"},
	MaxAge:        10 * time.Minute,
}

// SetCORS replaces DefaultCORS. Call it before serving.
func (g *Gateway) SetCORS(c CORS) { g.cors = &c }

func (g *Gateway) corsConfig() *CORS {
	if g.cors == nil {
		return &DefaultCORS
	}
	return g.cors
}

// allowedOrigin is the Access-Control-Allow-Origin to answer r with, "" for none: r has
// no Origin, or one not allowed.
func (c *CORS) allowedOrigin(r *http.Request) string {
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return ""
	case slices.Contains(c.AllowOrigins, "*"):
		return "*"
	case slices.Contains(c.AllowOrigins, origin):
		return origin
	}
	return ""
}

// options answers an OPTIONS request to a path that has routes, as API Gateway does
// under a CORS configuration: 204, the methods in Allow (RFC 9110 §9.3.7) and, for a
// preflight from an allowed origin, what that origin may do. No function or authorizer
// is invoked: a browser's preflight carries no credentials.
func (c *CORS) options(h http.Header, r *http.Request, methods []string) {
	h.Set("Allow", strings.Join(append(methods, http.MethodOptions), ", "))
	origin := c.allowedOrigin(r)
	if origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(c.AllowMethods, ","))
	h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowHeaders, ","))
	h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
	if origin != "*" {
		h.Add("Vary", "Origin")
	}
}

// response sets the CORS headers of an answer to r, after dropping any a function set.
func (c *CORS) response(h http.Header, r *http.Request) {
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "Access-Control-") {
			h.Del(k)
		}
	}
	origin := c.allowedOrigin(r)
	if origin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ","))
	if origin != "*" {
		h.Add("Vary", "Origin")
	}
}
