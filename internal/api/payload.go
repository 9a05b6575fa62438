package api

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// MaxPayloadBytes is Lambda's limit on a synchronous invocation's payload, each way
// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), counted on
// the invocation: the API Gateway event or response as JSON, the body inside it a JSON
// string (or base64). A larger response becomes a 502 at the gateway; a larger request is
// refused before the function runs.
const MaxPayloadBytes = 6_291_456

// PayloadSize is the size in bytes of v as Lambda carries it: json.Marshal's encoding,
// which is what aws-lambda-go writes.
func PayloadSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip (q=0 refuses it).
func acceptsGzip(req events.APIGatewayV2HTTPRequest) bool {
	for _, part := range strings.Split(header(req, "accept-encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") || strings.TrimSpace(coding) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// header returns the request header name (lower case, as payload format 2.0 gives them).
func header(req events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := req.Headers[name]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// minGzipBytes is the body below which compressing is not worth a round of CPU.
const minGzipBytes = 1024

// negotiate compresses resp's body with gzip when the client accepts it and the body is
// large enough to gain from it. API Gateway passes a base64 body through as bytes.
func negotiate(req events.APIGatewayV2HTTPRequest, resp events.APIGatewayV2HTTPResponse) events.APIGatewayV2HTTPResponse {
	if resp.IsBase64Encoded || len(resp.Body) < minGzipBytes || !acceptsGzip(req) {
		return resp
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level never fails
	_, _ = zw.Write([]byte(resp.Body))                 // a bytes.Buffer never fails
	_ = zw.Close()
	resp.Body = base64.StdEncoding.EncodeToString(buf.Bytes())
	resp.IsBase64Encoded = true
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	resp.Headers["Content-Encoding"] = "gzip"
	resp.Headers["Vary"] = "Accept-Encoding"
	return resp
}

// surelyFits is a body length below which a response fits MaxPayloadBytes whatever it
// holds: as a JSON string a byte takes at most 6 (\u00XX), and headers are small.
const surelyFits = MaxPayloadBytes/6 - 64<<10

// finish is what becomes of every answer a handler gives (Serve calls it): compressed when
// the client accepts gzip (negotiate), and when even so it is larger than Lambda carries,
// a 413 telling the client how to ask for less, instead of the bare 502 API Gateway
// would give (Function.ResponseSizeTooLarge under the emulator).
func finish(route string, req events.APIGatewayV2HTTPRequest, resp events.APIGatewayV2HTTPResponse) (events.APIGatewayV2HTTPResponse, error) {
	resp = negotiate(req, resp)
	if len(resp.Body) < surelyFits {
		return resp, nil
	}
	size := PayloadSize(resp)
	if size <= MaxPayloadBytes {
		return resp, nil
	}
	var remedies []string
	if resp.Headers["Content-Encoding"] == "" {
		remedies = append(remedies, "ask with Accept-Encoding: gzip (curl --compressed)")
	}
	if narrow := narrowing[route]; narrow != "" {
		remedies = append(remedies, "narrow the question: "+narrow)
	}
	if len(remedies) == 0 {
		remedies = append(remedies, "report it, quoting the request id: this answer has no smaller form")
	}
	return events.APIGatewayV2HTTPResponse{}, &telemetry.Error{Code: telemetry.CodeTooLarge, Message: fmt.Sprintf(
		"The answer is %.1f MB, more than the %.0f MB (%d bytes) a response can carry; %s.",
		float64(size)/(1<<20), float64(MaxPayloadBytes)/(1<<20), MaxPayloadBytes, strings.Join(remedies, ", or "))}
}

// narrowing says, by route, how a client asks a smaller question with the parameters the
// route takes; a route missing here has none (the summary is one answer).
var narrowing = map[string]string{
	"stats":         "group by fewer fields, add filters, or shorten the window",
	"anomalies":     "raise min_total or threshold, shorten the window, or name fewer sections in include if it is given",
	"pipelinestats": "add project, ref or runtime, or shorten the window",
	"trends":        "add runtime, or ask for a shorter range",
	"query":         "lower limit",
}
