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

// maxCallBytes is PutEvents' limit on the entries of one call, counted as entrySize
// counts them: "the total entry size must be less than 256KB"
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
const maxCallBytes = 256 << 10

// entrySize is the size EventBridge counts of e: 14 bytes for Time, and the UTF-8 bytes
// of Source, DetailType, Detail and each resource (the same page).
func entrySize(e types.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	if e.Time != nil {
		n += 14
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// calls splits entries into PutEvents calls of at most maxEntries entries and less than
// maxCallBytes each, in order. An entry too large for any call is a call of its own, for
// EventBridge to refuse and Publish to report.
func calls(entries []types.PutEventsRequestEntry) [][]types.PutEventsRequestEntry {
	var out [][]types.PutEventsRequestEntry
	start, size := 0, 0
	for i, e := range entries {
		n := entrySize(e)
		if i > start && (i-start == maxEntries || size+n >= maxCallBytes) {
			out = append(out, entries[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}

// attempts bounds the tries of entries EventBridge reports as failed: PutEvents answers
// 200 with per-entry failures (throttling, internal errors) that the caller must resend.
const attempts = 3

// Publish puts every alert on the bus, ten to a call and less than 256 KB a call, resending
// the entries a call reports failed. It returns an error naming how many could not be put.
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
		for _, batch := range calls(pending) {
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
