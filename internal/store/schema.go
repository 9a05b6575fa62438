// Package store keeps pipetel's data in DynamoDB: table schemas, item keys, batch writes
// with retries, sharded queries and page cursors. Handlers never see an expression.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names of the events table. template.yaml declares the same; a test
// holds the two together.
const (
	AttrPK         = "pk"          // E#<yyyymmdd>#<shard>, or DayRegistryPK
	AttrSK         = "sk"          // <ts in TimeLayout>#<id>, or <yyyymmdd> in the day registry
	AttrRuntimeKey = "runtime_key" // <runtime>#<shard>
	AttrKindKey    = "kind_key"    // <kind>#<shard>
	// AttrInfraKey is infra#<shard> on infrastructure errors only, so the by_infra_error
	// index is sparse: it holds them alone, and costs a write on no other event.
	AttrInfraKey  = "infra_key"
	AttrExpiresAt = "expires_at" // epoch seconds; DynamoDB's TTL deletes after it

	IndexByRuntime    = "by_runtime"
	IndexByKind       = "by_kind"
	IndexByInfraError = "by_infra_error"

	// DayRegistryPK holds one item per day bucket that has events, so a query without a
	// time range visits only days that exist.
	DayRegistryPK = "DAYS"
)

// ProbeAttributes are all ingest reads of a stored item: enough to tell whether an event
// is there and unexpired, and which event an id guard names ("of": keys, no content). Its
// IAM policy allows reading nothing else.
var ProbeAttributes = []string{AttrPK, AttrSK, AttrExpiresAt, attrGuardOf}

// Tables names the tables of one deployment.
type Tables struct {
	Events  string
	Tokens  string // empty: not created
	Summary string // rollups, staleness marks, leases and anomaly history; empty: none
}

// EventsTableInput is the definition of the events table: the one place its keys, indexes
// and billing are written down.
func EventsTableInput(name string) *dynamodb.CreateTableInput {
	str := types.ScalarAttributeTypeS
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: str},
			{AttributeName: aws.String(AttrSK), AttributeType: str},
			{AttributeName: aws.String(AttrRuntimeKey), AttributeType: str},
			{AttributeName: aws.String(AttrKindKey), AttributeType: str},
			{AttributeName: aws.String(AttrInfraKey), AttributeType: str},
		},
		KeySchema: keySchema(AttrPK, AttrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{
				IndexName:  aws.String(IndexByRuntime),
				KeySchema:  keySchema(AttrRuntimeKey, AttrSK),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
			{
				IndexName:  aws.String(IndexByKind),
				KeySchema:  keySchema(AttrKindKey, AttrSK),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
			{
				// The recent infrastructure errors, which KernelCI's analytics page asks for
				// on every refresh, are a few of a day's events: read through the day
				// buckets, each page filtered out most of what it read.
				IndexName:  aws.String(IndexByInfraError),
				KeySchema:  keySchema(AttrInfraKey, AttrSK),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
		},
	}
}

func keySchema(hash, rangeKey string) []types.KeySchemaElement {
	return []types.KeySchemaElement{
		{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String(rangeKey), KeyType: types.KeyTypeRange},
	}
}

// TableAPI is the part of the DynamoDB client that creating tables needs.
type TableAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// TableOption changes how CreateTables creates tables.
type TableOption func(*tableOptions)

type tableOptions struct{ keepExpired bool }

// KeepExpired leaves TTL off. DynamoDB deletes expired items days late, so readers must
// skip them themselves; DynamoDB Local deletes them at once by the wall clock. Tests
// keep them so that the skipping is what they see, and so a clock set in the past does
// not make their data vanish.
func KeepExpired() TableOption { return func(o *tableOptions) { o.keepExpired = true } }

// CreateTables creates the tables of t with TTL enabled, leaving tables that already exist
// as they are. It is for local runs and tests; deployments get theirs from template.yaml.
func CreateTables(ctx context.Context, client TableAPI, t Tables, opts ...TableOption) error {
	var o tableOptions
	for _, opt := range opts {
		opt(&o)
	}
	inputs := []*dynamodb.CreateTableInput{EventsTableInput(t.Events)}
	if t.Summary != "" {
		inputs = append(inputs, SummaryTableInput(t.Summary))
	}
	for _, in := range inputs {
		if err := createTable(ctx, client, in, o); err != nil {
			return err
		}
	}
	if t.Tokens != "" {
		// Tokens expire by their own attribute and stay listed: no TTL.
		if err := createTable(ctx, client, TokensTableInput(t.Tokens), tableOptions{keepExpired: true}); err != nil {
			return err
		}
	}
	return nil
}

func createTable(ctx context.Context, client TableAPI, in *dynamodb.CreateTableInput, o tableOptions) error {
	_, err := client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client)
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, tableWaitLimit); err != nil {
		return fmt.Errorf("wait for table %s: %w", aws.ToString(in.TableName), err)
	}
	if o.keepExpired {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: in.TableName,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable TTL on %s: %w", aws.ToString(in.TableName), err)
	}
	return nil
}

const tableWaitLimit = 2 * time.Minute
