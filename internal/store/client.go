package store

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// ClientOptions configures the DynamoDB client of one process.
type ClientOptions struct {
	Region string
	// Endpoint overrides the service endpoint, for DynamoDB Local. Static dummy
	// credentials are used with it so a developer needs no AWS account.
	Endpoint string
	// MaxConns bounds the idle connections kept to DynamoDB. It should be at least the
	// number of requests a process makes at once, or every burst pays for new TLS handshakes.
	MaxConns int
}

// NewClient builds a DynamoDB client tuned for bursts of batch writes. Build it once per
// process (per Lambda cold start), never per request.
func NewClient(ctx context.Context, o ClientOptions) (*dynamodb.Client, error) {
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = o.MaxConns
		t.MaxIdleConnsPerHost = o.MaxConns
		t.IdleConnTimeout = 90 * time.Second
	})
	loadOpts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(newRetryer),
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(o.Region))
	}
	if o.Endpoint != "" {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider("local", "local", "")))
		if o.Region == "" {
			loadOpts = append(loadOpts, awsconfig.WithRegion("us-east-1"))
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, func(opts *dynamodb.Options) {
		if o.Endpoint != "" {
			opts.BaseEndpoint = aws.String(o.Endpoint)
			// DynamoDB Local's error answers carry a CRC32 header that does not match their
			// body; validating it only logs a warning on every "table exists" or "not found".
			opts.DisableValidateResponseChecksum = true
		}
	}), nil
}

// newRetryer replaces the SDK's default client-side retry quota: its token bucket (500
// tokens, 5 per retry) empties within one burst of throttled batch writes and then fails
// requests without trying. Throttling here is the normal cost of a burst, and the store
// keeps its own deadline-bound retries on top, so the SDK retries a few times with
// jittered backoff and no quota.
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 4
		o.MaxBackoff = 2 * time.Second
		o.RateLimiter = ratelimit.None
	})
}
