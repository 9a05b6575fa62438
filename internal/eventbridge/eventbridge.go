// Package eventbridge publishes alerts to an Amazon EventBridge event bus.
package eventbridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// API is the part of the EventBridge client the publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ telemetry.AlertPublisher = (*Publisher)(nil)

// Publisher puts alerts on one event bus.
type Publisher struct {
	api API
	bus string
	now func() time.Time
}

// New returns a publisher to bus (a name or an ARN; "default" is the account's default
// bus) through api; now stamps the events (nil: time.Now).
func New(api API, bus string, now func() time.Time) *Publisher {
	if now == nil {
		now = time.Now
	}
	return &Publisher{api: api, bus: bus, now: now}
}

// NewClient builds an EventBridge client from the function's region and credentials
// (Lambda puts both in its environment), once per cold start.
func NewClient(region string, creds aws.Credentials) *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{
		Region:      region,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
	})
}

// maxEntries is PutEvents' limit of entries per call (EventBridge quotas).
const maxEntries = 10

// attempts bounds the tries of entries EventBridge reports as failed: PutEvents answers
// 200 with per-entry failures (throttling, internal errors) that the caller must resend.
const attempts = 3

// Publish puts every alert on the bus, ten to a call, resending the entries a call reports
// failed. It returns an error naming how many could not be put.
func (p *Publisher) Publish(ctx context.Context, alerts []telemetry.Alert) error {
	var pending []types.PutEventsRequestEntry
	for _, a := range alerts {
		pending = append(pending, types.PutEventsRequestEntry{
			EventBusName: aws.String(p.bus), Source: aws.String(telemetry.AlertSource),
			DetailType: aws.String(a.DetailType), Detail: aws.String(string(a.Detail)), Time: aws.Time(p.now()),
		})
	}
	var lastErr error
	for try := 0; try < attempts && len(pending) > 0; try++ {
		var failed []types.PutEventsRequestEntry
		for start := 0; start < len(pending); start += maxEntries {
			batch := pending[start:min(start+maxEntries, len(pending))]
			out, err := p.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
			if err != nil {
				lastErr = err
				failed = append(failed, batch...)
				continue
			}
			for i, r := range out.Entries {
				if r.ErrorCode != nil && i < len(batch) {
					lastErr = fmt.Errorf("%s: %s", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
					failed = append(failed, batch[i])
				}
			}
		}
		pending = failed
		if ctx.Err() != nil {
			break
		}
	}
	if len(pending) > 0 {
		return errors.Join(fmt.Errorf("eventbridge: %d of %d alerts not put", len(pending), len(alerts)), lastErr)
	}
	return nil
}
