package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// stuckBatchGets answers every BatchGetItem with err, or, when err is nil, with every key
// left unprocessed, as a table throttled throughout does; it counts the calls.
type stuckBatchGets struct {
	store.SummaryAPI
	err   error
	calls atomic.Int32
}

func (s *stuckBatchGets) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	s.calls.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return &dynamodb.BatchGetItemOutput{UnprocessedKeys: in.RequestItems}, nil
}

// TestRollupRowReadsGiveUpAfterTheAttempts: a read of rollup rows that DynamoDB keeps
// throttling, or keeps leaving unprocessed, is tried Backoff.Attempts times and then
// fails, throttled for the first (a 429 the client may retry); it neither gives up sooner
// nor retries without end.
func TestRollupRowReadsGiveUpAfterTheAttempts(t *testing.T) {
	tables := dynamotest.NewTables(t)
	const attempts = 4
	for _, c := range []struct {
		name string
		err  error
		code telemetry.Code
	}{
		{"throttled", &types.ProvisionedThroughputExceededException{Message: aws.String("injected")}, telemetry.CodeThrottled},
		{"unprocessed", nil, telemetry.CodeInternal},
	} {
		db := &stuckBatchGets{SummaryAPI: dynamotest.Client(t), err: c.err}
		s := store.NewSummary(db, store.SummaryOptions{Table: tables.Summary, EventsTable: tables.Events, EventShards: 2,
			Backoff: store.Backoff{Attempts: attempts, Base: time.Millisecond, Max: time.Millisecond}})
		_, err := s.ShardRows(t.Context(), "hour", 0, []time.Time{time.Date(2026, 6, 8, 6, 0, 0, 0, time.UTC)})
		if err == nil || telemetry.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want a %s error", c.name, err, c.code)
		}
		if n := db.calls.Load(); n != attempts {
			t.Errorf("%s: %d BatchGetItem calls, want %d", c.name, n, attempts)
		}
	}
}
