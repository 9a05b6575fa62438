// Package web serves what a person opens in a browser: the dashboard at /, the API's
// OpenAPI 3.1 description at /openapi.json and a reader for it at /docs. Everything is
// embedded in the binary at build time, so a page never fetches code from elsewhere and
// needs no table access: the dashboard calls the API's own routes from the browser.
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"text/template"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
)

// files holds the pages (static/, written by hand), the OpenAPI document, and the browser
// libraries `make web` copies from npm into dist/. dist/ is generated and not committed
// beyond its README, which keeps the pattern valid on a fresh clone.
//
//go:embed static openapi.json dist
var files embed.FS

// Paths of the routes the web function serves; routes.All lists each with Function "web".
const (
	PathDashboard = "/"
	PathDocs      = "/docs"
	PathOpenAPI   = "/openapi.json"
)

// A page is one response body, assembled once per cold start: an HTML file with the
// scripts and styles it names inlined, or a file as it is. Inlining keeps each view one
// request (first paint does not wait on a second round trip through API Gateway and
// Lambda) and keeps the route table to the three paths.
type page struct {
	source      string // in files
	contentType string
	template    bool // source is a template whose {{inline "dist/x.js"}} calls are replaced by the file
}

var pages = map[string]page{
	PathDashboard: {source: "static/index.html", contentType: "text/html; charset=utf-8", template: true},
	PathDocs:      {source: "static/docs.html", contentType: "text/html; charset=utf-8", template: true},
	PathOpenAPI:   {source: "openapi.json", contentType: "application/json"},
}

// body is an assembled page, plain and gzip-compressed.
type body struct {
	contentType string
	plain       []byte
	gzipped     []byte
}

// assemble builds every page from fsys. It fails when a page names a file fsys lacks
// (dist/ not built: run `make web`) or a file that would end the element it is inlined in.
func assemble(fsys fs.FS) (map[string]body, error) {
	out := make(map[string]body, len(pages))
	for path, p := range pages {
		raw, err := fs.ReadFile(fsys, p.source)
		if err != nil {
			return nil, err
		}
		if p.template {
			if raw, err = inline(fsys, p.source, string(raw)); err != nil {
				return nil, err
			}
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		if _, err := zw.Write(raw); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		out[path] = body{contentType: p.contentType, plain: raw, gzipped: z.Bytes()}
	}
	return out, nil
}

// inline executes the page template src, whose {{inline "name"}} calls insert the file
// name of fsys as it is: inside <script> or <style>, where HTML escaping would break it.
func inline(fsys fs.FS, name, src string) ([]byte, error) {
	t, err := template.New(name).Funcs(template.FuncMap{
		"inline": func(file string) (string, error) {
			b, err := fs.ReadFile(fsys, file)
			if err != nil {
				return "", fmt.Errorf("%w (the browser libraries under internal/web/dist are built by `make web`)", err)
			}
			lower := strings.ToLower(string(b))
			if strings.Contains(lower, "</script") || strings.Contains(lower, "</style") {
				return "", fmt.Errorf("%s contains a closing </script or </style tag and cannot be inlined", file)
			}
			return string(b), nil
		},
	}).Parse(src)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// assembled is built on the first request, not at package init, so that a missing
// dist/ shows as a logged error on that request rather than a crash at every start.
var assembled = sync.OnceValues(func() (map[string]body, error) { return assemble(files) })

// New serves GET /, /docs and /openapi.json (also under /latest and /v0). A client that accepts
// gzip gets the compressed body (the docs page is about 2 MB plain, 0.5 MB compressed).
func New(d api.Deps) api.Handler {
	// The pages carry no data and a browser opens them without a token (the routes are
	// api.Route.Public), so no scope is asked of their requests.
	d.PublicReads = true
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return api.Serve(ctx, d, "web", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			// The query string is ignored: on / it is the dashboard's view (filters kept in
			// the URL so it can be shared), which the page reads in the browser.
			all, err := assembled()
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("web assets: %w", err)
			}
			path := strings.TrimPrefix(strings.TrimPrefix(req.RawPath, api.LatestPrefix), api.V0Prefix)
			if path == "" {
				path = PathDashboard
			}
			b, ok := all[path]
			if !ok {
				return api.GatewayError(http.StatusNotFound, nil, req.RequestContext.RequestID), nil
			}
			return respond(b, acceptsGzip(req.Headers["accept-encoding"])), nil
		})
	}
}

func respond(b body, gz bool) events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers: map[string]string{
			"Content-Type": b.contentType,
			// Pages change with each deployment and are small once compressed: always
			// revalidate rather than show a stale dashboard against a newer API.
			"Cache-Control":          "no-cache",
			"Vary":                   "Accept-Encoding",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(b.plain),
	}
	if gz {
		resp.Headers["Content-Encoding"] = "gzip"
		resp.Body = base64.StdEncoding.EncodeToString(b.gzipped)
		resp.IsBase64Encoded = true
	}
	return resp
}

// acceptsGzip reports whether an Accept-Encoding header value admits gzip (RFC 9110
// §12.5.3): listed, or covered by *, and not with q=0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		if strings.HasPrefix(q, "q=0") && strings.Trim(strings.TrimPrefix(q, "q=0"), ".0") == "" {
			continue
		}
		return true
	}
	return false
}
