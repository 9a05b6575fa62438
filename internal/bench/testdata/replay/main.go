// Command replay is the floor of a function's cold start in `make bench`: the hello-world
// baseline that, on its one invocation, sends again the DynamoDB requests a function's
// first invocation sent (captured byte for byte, in REPLAY_CALLS), in the same rounds —
// a round's requests at once, the next round once they have all answered — and does
// nothing else. Its first response is what those reads cost from a process that has just
// started, with none of the function's own work.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// call is one captured request: its headers as sent (signature included; DynamoDB Local
// does not check it) and its body.
type call struct {
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

func main() {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	// As many idle connections as the functions keep (store.NewClient), so a round reuses
	// the connections of the round before as theirs do.
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	lambda.Start(func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		b, err := os.ReadFile(os.Getenv("REPLAY_CALLS"))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		var rounds [][]call
		if err := json.Unmarshal(b, &rounds); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		for _, round := range rounds {
			errs := make([]error, len(round))
			var wg sync.WaitGroup
			for i, c := range round {
				wg.Go(func() { errs[i] = send(ctx, client, endpoint, c) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, err
				}
			}
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})
}

// send posts c and reads its whole answer. A 400 (a condition that fails this time, an
// item already there) costs DynamoDB Local what the first answer did, so only a fault of
// the server is an error.
func send(ctx context.Context, client *http.Client, endpoint string, c call) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(c.Body))
	if err != nil {
		return err
	}
	req.Header = c.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%s: status %d", c.Header.Get("X-Amz-Target"), resp.StatusCode)
	}
	return nil
}
