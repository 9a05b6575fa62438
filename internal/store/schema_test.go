package store_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

// TestCreateTablesEnablesTTL: tables made for make dev and make invoke expire events on
// expires_at, and creating them again is harmless.
func TestCreateTablesEnablesTTL(t *testing.T) {
	client := dynamotest.Client(t)
	tables := store.Tables{Events: dynamotest.NewTables(t).Events + "-ttl"}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(t.Context(), &dynamodb.DeleteTableInput{TableName: aws.String(tables.Events)})
	})
	for range 2 {
		if err := store.CreateTables(t.Context(), client, tables); err != nil {
			t.Fatal(err)
		}
	}
	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tables.Events)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != store.AttrExpiresAt {
		t.Errorf("TTL %s on %q, want ENABLED on %q", d.TimeToLiveStatus, aws.ToString(d.AttributeName), store.AttrExpiresAt)
	}
}
