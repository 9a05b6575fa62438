package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// echo answers with what it was given, so any field GatewayHandler decoded differently
// from aws-lambda-go shows in the response.
func echo(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	seen, err := json.Marshal(req)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(seen) + " <&>",
		Headers: map[string]string{"Content-Type": "application/json"}}, nil
}

// GatewayHandler must answer every invocation byte for byte as aws-lambda-go's own
// handler does, which is what a deployed function answered before it.
func TestGatewayHandlerAnswersAsAWSLambdaGo(t *testing.T) {
	samples, err := filepath.Glob("../../events/*.json")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	cases := map[string][]byte{
		"not JSON":             []byte(`{"body": `),
		"not an event":         []byte(`[1, 2]`),
		"body with escapes":    []byte(`{"rawPath":"/telemetry","body":"[{\"kind\":\"a\\u00e9\\n\"}]","isBase64Encoded":false}`),
		"unknown members kept": []byte(`{"rawPath":"/x","later":{"a":[1,2]},"body":""}`),
	}
	for _, path := range samples {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(path)] = b
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			want, wantErr := lambda.NewHandler(echo).Invoke(t.Context(), bytes.Clone(payload))
			got, gotErr := GatewayHandler(echo).Invoke(t.Context(), payload)
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("error = %v, aws-lambda-go's = %v", gotErr, wantErr)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Errorf("answer differs from aws-lambda-go's from byte %d of %d (its: %d): got %q, want %q",
					i, len(got), len(want), got[i:min(i+40, len(got))], want[i:min(i+40, len(want))])
			}
		})
	}
}
