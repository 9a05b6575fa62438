package api

import (
	"bytes"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
)

// JSON is a response with body as JSON: without HTML escaping (an error_msg full of
// '<' would otherwise grow sixfold) and ending with a newline, as curl users expect.
func JSON(status int, body any) events.APIGatewayV2HTTPResponse {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var b []byte
	if err := enc.Encode(body); err != nil {
		// Every body here is built from plain structs; a failure is a programming error.
		status, b = 500, []byte("{\"detail\":\"Something went wrong on our side; try again.\"}\n")
	} else {
		b = buf.Bytes()
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(b),
	}
}
