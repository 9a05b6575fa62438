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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// ClientOptions configures the DynamoDB client of one process.
type ClientOptions struct {
	Region string
	// Endpoint overrides the service endpoint, for DynamoDB Local. Static dummy
	// credentials are used with it so a developer needs no AWS account.
	Endpoint string
	// Credentials sign requests to AWS; Lambda puts them in the function's environment.
	Credentials aws.Credentials
	// MaxConns bounds the idle connections kept to DynamoDB. It should be at least the
	// number of requests a process makes at once, or every burst pays for new TLS handshakes.
	MaxConns int
}

// NewClient builds a DynamoDB client tuned for bursts of batch writes. Build it once per
// process (per Lambda cold start), never per request.
//
// It is assembled by hand rather than through aws-sdk-go-v2/config: that package's
// profile, SSO and IMDS machinery adds about 2.5 MB to every function and work to every
// cold start, and a Lambda needs none of it.
func NewClient(_ context.Context, o ClientOptions) (*dynamodb.Client, error) {
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	opts := dynamodb.Options{
		Region: o.Region,
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = o.MaxConns
			t.MaxIdleConnsPerHost = o.MaxConns
			t.IdleConnTimeout = 90 * time.Second
		}),
		Retryer:     newRetryer(),
		Credentials: credentials.StaticCredentialsProvider{Value: o.Credentials},
	}
	if o.Endpoint != "" {
		opts.BaseEndpoint = aws.String(o.Endpoint)
		opts.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		if opts.Region == "" {
			opts.Region = "us-east-1"
		}
		// DynamoDB Local's error answers carry a CRC32 header that does not match their
		// body; validating it only logs a warning on every "table exists" or "not found".
		opts.DisableValidateResponseChecksum = true
	} else if !o.Credentials.HasKeys() || o.Region == "" {
		return nil, fmt.Errorf("no AWS region or credentials: set AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda does), or DYNAMODB_ENDPOINT for DynamoDB Local")
	}
	return dynamodb.New(opts), nil
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
