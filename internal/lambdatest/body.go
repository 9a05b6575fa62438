package lambdatest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/aws/aws-lambda-go/events"
)

// ClientBody is the body of a function's response as an HTTP client reads it: API
// Gateway sends a base64-encoded body as its bytes, and the client undoes a gzip
// Content-Encoding. Errors name the step that failed.
func ClientBody(resp events.APIGatewayV2HTTPResponse) ([]byte, error) {
	if !resp.IsBase64Encoded {
		return []byte(resp.Body), nil
	}
	raw, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("body: base64: %w", err)
	}
	if resp.Headers["Content-Encoding"] != "gzip" {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("body: gzip: %w", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("body: gzip: %w", err)
	}
	return plain, nil
}
