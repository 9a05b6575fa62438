package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// batchPut writes up to 25 put (or delete) requests into table with one BatchWriteItem, then again
// for what DynamoDB leaves unprocessed and after errors worth retrying, pausing as b says.
// It returns the requests left unwritten (none on success) and why. A whole call refused
// for a transaction in flight on one of its items (TransactionConflictException, as a
// rollup commit clearing a staleness mark causes) is retried like throttling.
func batchPut(ctx context.Context, db DynamoAPI, table string, reqs []types.WriteRequest, b Backoff) ([]types.WriteRequest, error) {
	for attempt := 0; len(reqs) > 0; attempt++ {
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{table: reqs},
		})
		var conflict *types.TransactionConflictException
		if err != nil && !isRetryable(err) && !errors.As(err, &conflict) {
			return reqs, err
		}
		if err == nil {
			reqs = out.UnprocessedItems[table]
			if len(reqs) == 0 {
				return nil, nil
			}
		}
		if !b.pause(ctx, attempt) {
			if err == nil {
				err = &types.ProvisionedThroughputExceededException{Message: aws.String(fmt.Sprintf("%d unprocessed items left after retries", len(reqs)))}
			}
			return reqs, err
		}
	}
	return nil, nil
}
