package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// The metric state lives in one partition of the summary table, M#, in two items: the
// cumulative totals (sk "totals", replaced by rollup commits under a version condition)
// and the rollup's watermark (sk "rolled_up_to"). Neither expires: the totals must outlive
// the rows they were counted from. They are written at most once per rollup commit and
// once per run, far below a partition's 1,000 writes/s.
const (
	metricsPK       = "M#"
	totalsSK        = "totals"
	watermarkSK     = "rolled_up_to"
	attrVersion     = "version"
	attrWatermarkMS = "at_ms"
)

// totalsWrite is the transaction item that replaces the totals if they are still at
// t.Version. It updates rather than puts, keeping the item's other attributes: the
// totals' first write records the layout of the rows the table holds (merged.go), as no
// rollup wrote rows before it.
func (s *Summary) totalsWrite(t *telemetry.RollupTotals) (types.TransactWriteItem, error) {
	update := expression.Set(expression.Name(attrBody), expression.Value(t.Body)).
		Set(expression.Name(attrVersion), expression.Value(t.Version+1))
	cond := expression.Name(attrVersion).Equal(expression.Value(t.Version))
	if t.Version == 0 {
		cond = expression.AttributeNotExists(expression.Name(AttrPK))
		update = update.Set(expression.Name(attrMergedRows), expression.Value(telemetry.RollupLayoutSixHours))
	}
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(s.opts.Table),
		Key:                       itemKey(metricsPK, totalsSK),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}}, nil
}

// MetricsState implements telemetry.RollupStore: one BatchGetItem of both items.
func (s *Summary) MetricsState(ctx context.Context) (telemetry.RollupTotals, time.Time, error) {
	keys := []map[string]types.AttributeValue{itemKey(metricsPK, totalsSK), itemKey(metricsPK, watermarkSK)}
	var (
		totals telemetry.RollupTotals
		mark   time.Time
	)
	for attempt := 0; len(keys) > 0; attempt++ {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.opts.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
		})
		if err != nil && !isRetryable(err) {
			return totals, mark, clientError(fmt.Errorf("read metric state: %w", err))
		}
		if err == nil {
			for _, item := range out.Responses[s.opts.Table] {
				switch stringAttr(item, AttrSK) {
				case totalsSK:
					if b, ok := item[attrBody].(*types.AttributeValueMemberB); ok {
						totals.Body = b.Value
					}
					totals.Version = numberAttr(item, attrVersion)
				case watermarkSK:
					mark = time.UnixMilli(numberAttr(item, attrWatermarkMS)).UTC()
				}
			}
			keys = out.UnprocessedKeys[s.opts.Table].Keys
			if len(keys) == 0 {
				break
			}
		}
		if !s.opts.Backoff.pause(ctx, attempt) {
			if err == nil {
				err = errors.New("unprocessed keys left after retries")
			}
			return totals, mark, clientError(fmt.Errorf("read metric state: %w", err))
		}
	}
	return totals, mark, nil
}

// AdvanceRolledUpTo implements telemetry.RollupStore with a conditional put.
func (s *Summary) AdvanceRolledUpTo(ctx context.Context, t time.Time) error {
	item := itemKey(metricsPK, watermarkSK)
	item[attrWatermarkMS] = &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
	cond := expression.AttributeNotExists(expression.Name(AttrPK)).
		Or(expression.Name(attrWatermarkMS).LessThan(expression.Value(t.UnixMilli())))
	if _, err := conditionalPut(ctx, s.db, s.opts.Table, item, cond); err != nil {
		return clientError(fmt.Errorf("record rollup watermark: %w", err))
	}
	return nil
}
