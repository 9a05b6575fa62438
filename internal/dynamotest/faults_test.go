package dynamotest_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

// shedding stands for a DynamoDB under load: it leaves unprocessed every item whose sort
// key contains "shed", as the real service may, and takes the rest.
type shedding struct {
	store.DynamoAPI
	taken []string
}

func (s *shedding) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	left := map[string][]types.WriteRequest{}
	for table, reqs := range in.RequestItems {
		for _, r := range reqs {
			if sk := sortKey(r); strings.Contains(sk, "shed") {
				left[table] = append(left[table], r)
			} else {
				s.taken = append(s.taken, sk)
			}
		}
	}
	return &dynamodb.BatchWriteItemOutput{UnprocessedItems: left}, nil
}

func sortKey(r types.WriteRequest) string {
	v, _ := r.PutRequest.Item[store.AttrSK].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

func put(sk string) types.WriteRequest {
	return types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: "p"}, store.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}}}
}

// TestFaultsKeepWhatTheRealCallLeftUnprocessed: the items Faults holds back and the items
// the wrapped client left unprocessed both come back as UnprocessedItems.
func TestFaultsKeepWhatTheRealCallLeftUnprocessed(t *testing.T) {
	inner := &shedding{}
	f := &dynamotest.Faults{DynamoAPI: inner, Unprocess: func(sk string, _ int) bool { return strings.HasPrefix(sk, "held") }}
	out, err := f.BatchWriteItem(t.Context(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"events": {put("ok-1"), put("held-1"), put("shed-1"), put("ok-2"), put("shed-2")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, r := range out.UnprocessedItems["events"] {
		left = append(left, sortKey(r))
	}
	slices.Sort(left)
	if want := []string{"held-1", "shed-1", "shed-2"}; !slices.Equal(left, want) {
		t.Errorf("unprocessed %v, want %v", left, want)
	}
	if want := []string{"ok-1", "ok-2"}; !slices.Equal(inner.taken, want) {
		t.Errorf("written %v, want %v", inner.taken, want)
	}
}
