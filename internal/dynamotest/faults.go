package dynamotest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/store"
)

// Faults wraps a real client and injects the failures DynamoDB Local never produces:
// whole calls throttled, and batch items left unprocessed (returned with HTTP 200, as
// DynamoDB does under load). Everything it lets through is really stored.
type Faults struct {
	store.DynamoAPI
	// ThrottleEvery throttles every n-th BatchWriteItem and BatchGetItem call (0: never).
	ThrottleEvery int
	// Unprocess leaves an item of a batch write unprocessed each time it is sent when it
	// returns true for the item's sort key: always, for an item that can never be stored.
	Unprocess func(sk string, attempt int) bool

	mu       sync.Mutex
	calls    int
	attempts map[string]int
}

func (f *Faults) throttleNow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.ThrottleEvery > 0 && f.calls%f.ThrottleEvery == 0
}

func throttled() error {
	return &types.ProvisionedThroughputExceededException{Message: aws.String("injected throttling")}
}

// BatchWriteItem passes the batch through, minus the items Unprocess holds back, which
// come back as UnprocessedItems together with any the real call left unprocessed.
func (f *Faults) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if f.throttleNow() {
		return nil, throttled()
	}
	pass := map[string][]types.WriteRequest{}
	held := map[string][]types.WriteRequest{}
	for table, reqs := range in.RequestItems {
		for _, r := range reqs {
			sk := ""
			if v, ok := r.PutRequest.Item[store.AttrSK].(*types.AttributeValueMemberS); ok {
				sk = v.Value
			}
			f.mu.Lock()
			if f.attempts == nil {
				f.attempts = map[string]int{}
			}
			attempt := f.attempts[sk]
			f.attempts[sk]++
			f.mu.Unlock()
			if f.Unprocess != nil && f.Unprocess(sk, attempt) {
				held[table] = append(held[table], r)
			} else {
				pass[table] = append(pass[table], r)
			}
		}
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: held}
	if len(pass) > 0 {
		got, err := f.DynamoAPI.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pass}, opts...)
		if err != nil {
			return nil, err
		}
		// What the real call left unprocessed is unprocessed too: dropping it would report
		// items as written that never were.
		for table, reqs := range got.UnprocessedItems {
			held[table] = append(held[table], reqs...)
		}
		out.ConsumedCapacity, out.ItemCollectionMetrics = got.ConsumedCapacity, got.ItemCollectionMetrics
	}
	return out, nil
}

// BatchGetItem is throttled like BatchWriteItem, and otherwise passes through.
func (f *Faults) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if f.throttleNow() {
		return nil, throttled()
	}
	return f.DynamoAPI.BatchGetItem(ctx, in, opts...)
}
