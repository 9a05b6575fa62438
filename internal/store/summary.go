package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// The summary table has the events table's key and TTL attribute names, and no index.
// Its partition key values, by item kind:
//
//	D#<shard>                     staleness marks, sk = fine bucket start (bucketLayout)
//	R#<resolution>#<bucket start> rollup rows, sk = <shard>#<part>, one partition per bucket,
//	                              and the bucket's merged row, sk = all#<part> (merged.go)
//	L#<shard>                     leases, sk = day (yyyymmdd)
//
// Marks are written by ingest. Partitioned by event shard, each mark key value takes at
// most 1/shards of the ingest requests (a mean of 313 writes/s at 10,000 single-event
// requests/s over the default 32 shards), and rows of one bucket sit in one partition so a reader gets every
// shard of a bucket in one Query. Readers first take each bucket's merged row (every
// shard's row merged into one, kept by the rollup) with BatchGetItem, many buckets a
// call, and Query the shard rows only of buckets whose merged row they cannot use.
const (
	// MarkPrefix begins the partition key of every staleness mark: the only items ingest
	// may write in the summary table.
	MarkPrefix  = "D#"
	rowPrefix   = "R#"
	leasePrefix = "L#"
	// S#<yyyymmdd>: summary snapshots of one day, sk = the time taken (TimeLayout)
	snapshotPrefix = "S#"
	// SP#<time taken>#<sum>: the parts after the first of one snapshot (snapshot.go)
	snapshotPartPrefix = "SP#"

	attrSeq        = "seq"
	attrBody       = "body"
	attrMinExpires = "min_expires"
	attrMaxExpires = "max_expires"
	attrParts      = "parts"
	attrOwner      = "owner"
	attrUntil      = "until_ms"

	bucketLayout = "20060102T150405"

	rowPartBytes = telemetry.RollupRowPartBytes
)

// DefaultRollupRetention is how long rollups are kept: 400 days, long after raw events.
const DefaultRollupRetention = 400 * 24 * time.Hour

// SummaryTableInput is the definition of the summary table.
func SummaryTableInput(name string) *dynamodb.CreateTableInput {
	str := types.ScalarAttributeTypeS
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: str},
			{AttributeName: aws.String(AttrSK), AttributeType: str},
		},
		KeySchema: keySchema(AttrPK, AttrSK),
	}
}

// SummaryAPI is the part of the DynamoDB client the summary store uses: the calls the
// events store makes (PutItem and TransactWriteItems among them, for the id claims).
type SummaryAPI interface{ DynamoAPI }

// SummaryOptions configures the summary store.
type SummaryOptions struct {
	Table       string // the summary table
	EventsTable string // read for the raw events of a unit
	EventShards int    // as the events store's
	// Retention is how long rows, marks and leases are kept; 0 means
	// DefaultRollupRetention.
	Retention       time.Duration
	ReadConcurrency int              // shard queries in flight; 0 means 32
	Backoff         Backoff          // retries of marks; zero means DefaultBackoff
	Now             func() time.Time // nil means time.Now
}

// Summary is the DynamoDB summary store.
type Summary struct {
	db   SummaryAPI
	opts SummaryOptions
}

var _ telemetry.RollupStore = (*Summary)(nil)

// NewSummary returns the summary store on db.
func NewSummary(db SummaryAPI, o SummaryOptions) *Summary {
	o.EventShards = max(o.EventShards, 1)
	if o.Retention <= 0 {
		o.Retention = DefaultRollupRetention
	}
	if o.ReadConcurrency <= 0 {
		o.ReadConcurrency = 32
	}
	o.Backoff = o.Backoff.withDefaults()
	return &Summary{db: db, opts: o}
}

func (s *Summary) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// Shards implements telemetry.RollupStore.
func (s *Summary) Shards() int { return s.opts.EventShards }

// Retention implements telemetry.RollupStore.
func (s *Summary) Retention() time.Duration { return s.opts.Retention }

func bucketKey(t time.Time) string { return t.UTC().Format(bucketLayout) }

func markPK(shard int) string { return MarkPrefix + strconv.Itoa(shard) }

func rowPK(resolution string, start time.Time) string {
	return rowPrefix + resolution + "#" + bucketKey(start)
}

func rowSK(shard, part int) string { return fmt.Sprintf("%04d#%03d", shard, part) }

func leaseKey(l telemetry.RollupLease) map[string]types.AttributeValue {
	return itemKey(leasePrefix+strconv.Itoa(l.Shard), l.Day.UTC().Format("20060102"))
}

// StaleMarks implements telemetry.RollupStore: one Query per shard's mark partition.
func (s *Summary) StaleMarks(ctx context.Context, from, to time.Time) ([]telemetry.StaleMark, error) {
	marks := make([][]telemetry.StaleMark, s.opts.EventShards)
	err := s.parallel(ctx, s.opts.EventShards, func(ctx context.Context, shard int) error {
		key := expression.Key(AttrPK).Equal(expression.Value(markPK(shard)))
		switch {
		case !from.IsZero() && !to.IsZero():
			key = key.And(expression.Key(AttrSK).Between(expression.Value(bucketKey(from)), expression.Value(bucketKey(to.Add(-time.Second)))))
		case !from.IsZero():
			key = key.And(expression.Key(AttrSK).GreaterThanEqual(expression.Value(bucketKey(from))))
		case !to.IsZero():
			key = key.And(expression.Key(AttrSK).LessThan(expression.Value(bucketKey(to))))
		}
		err := s.query(ctx, key, true, func(item map[string]types.AttributeValue) error {
			start, err := time.Parse(bucketLayout, stringAttr(item, AttrSK))
			if err != nil {
				return fmt.Errorf("staleness mark %q: %w", stringAttr(item, AttrSK), err)
			}
			marks[shard] = append(marks[shard], telemetry.StaleMark{
				RollupUnit: telemetry.RollupUnit{Start: start, Shard: shard},
				Seq:        numberAttr(item, attrSeq),
			})
			return nil
		})
		if err != nil {
			return fmt.Errorf("read staleness marks: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, clientError(err)
	}
	var all []telemetry.StaleMark
	for _, m := range marks {
		all = append(all, m...)
	}
	return all, nil
}

func (s *Summary) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	sem := make(chan struct{}, s.opts.ReadConcurrency)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- fn(ctx, i)
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Rows implements telemetry.RollupStore: one Query reads every shard of the bucket.
func (s *Summary) Rows(ctx context.Context, resolution string, start time.Time) ([]telemetry.RollupRow, error) {
	return s.rows(ctx, resolution, start, false)
}

func (s *Summary) rows(ctx context.Context, resolution string, start time.Time, consistent bool) ([]telemetry.RollupRow, error) {
	// The merged row's items sort after every shard row's: left out.
	key := expression.Key(AttrPK).Equal(expression.Value(rowPK(resolution, start))).
		And(expression.Key(AttrSK).LessThan(expression.Value(mergedSKPrefix)))
	var items []map[string]types.AttributeValue
	err := s.query(ctx, key, consistent, func(item map[string]types.AttributeValue) error {
		items = append(items, item)
		return nil
	})
	if err != nil {
		return nil, clientError(fmt.Errorf("read rollup rows: %w", err))
	}
	return assembleRows(resolution, start, items)
}

// assembleRows joins the parts of each shard's row, in sort key order. A row whose parts
// are not all there (a reader between a commit's items cannot see that, as commits are
// transactions, but a half-deleted table can) is an error rather than a wrong answer.
func assembleRows(resolution string, start time.Time, items []map[string]types.AttributeValue) ([]telemetry.RollupRow, error) {
	sort.Slice(items, func(i, j int) bool { return stringAttr(items[i], AttrSK) < stringAttr(items[j], AttrSK) })
	var rows []telemetry.RollupRow
	for _, item := range items {
		shardText, partText, _ := strings.Cut(stringAttr(item, AttrSK), "#")
		shard, err1 := strconv.Atoi(shardText)
		part, err2 := strconv.Atoi(partText)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("rollup row key %q", stringAttr(item, AttrSK))
		}
		body, _ := item[attrBody].(*types.AttributeValueMemberB)
		if part == 0 {
			rows = append(rows, telemetry.RollupRow{Resolution: resolution, Start: start, Shard: shard,
				MinExpires: numberAttr(item, attrMinExpires), Parts: int(numberAttr(item, attrParts)),
				MaxExpires: numberAttr(item, attrMaxExpires)})
		}
		if len(rows) == 0 || rows[len(rows)-1].Shard != shard {
			continue // a part left over from a longer earlier version: not counted
		}
		r := &rows[len(rows)-1]
		if part < r.Parts && body != nil {
			r.Body = append(r.Body, body.Value...)
		}
	}
	return rows, nil
}

// ShardRows implements telemetry.RollupStore: the first part of every row in one
// BatchGetItem per 100, and the rest of the few rows longer than one part by Query.
func (s *Summary) ShardRows(ctx context.Context, resolution string, shard int, starts []time.Time) (map[int64]telemetry.RollupRow, error) {
	rows := map[int64]telemetry.RollupRow{}
	byPK := map[string]time.Time{}
	for _, start := range starts {
		byPK[rowPK(resolution, start)] = start
	}
	for i := 0; i < len(starts); i += batchGetMax {
		keys := make([]map[string]types.AttributeValue, 0, batchGetMax)
		for _, start := range starts[i:min(i+batchGetMax, len(starts))] {
			keys = append(keys, itemKey(rowPK(resolution, start), rowSK(shard, 0)))
		}
		for attempt := 0; len(keys) > 0; attempt++ {
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.opts.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
			})
			if err != nil && !isRetryable(err) {
				return nil, clientError(fmt.Errorf("read rollup rows: %w", err))
			}
			if err == nil {
				for _, item := range out.Responses[s.opts.Table] {
					start := byPK[stringAttr(item, AttrPK)]
					got, err := assembleRows(resolution, start, []map[string]types.AttributeValue{item})
					if err != nil {
						return nil, err
					}
					if len(got) == 1 {
						rows[start.Unix()] = got[0]
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
				return nil, clientError(fmt.Errorf("read rollup rows: %w", err))
			}
		}
	}
	for key, r := range rows {
		if r.Parts <= 1 {
			continue
		}
		all, err := s.rows(ctx, resolution, r.Start, true)
		if err != nil {
			return nil, err
		}
		for _, full := range all {
			if full.Shard == shard {
				rows[key] = full
			}
		}
	}
	return rows, nil
}

// EachUnitEvent implements telemetry.RollupStore. It reads the unit's own day partition of
// the events table, which holds exactly the unit's shard, with strong consistency: a
// rollup that read a mark must see every event written before the mark.
func (s *Summary) EachUnitEvent(ctx context.Context, u telemetry.RollupUnit, end time.Time, fn func(telemetry.Event, int64) error) error {
	keyCond := expression.Key(AttrPK).Equal(expression.Value(dayPartition(dayOf(u.Start), u.Shard))).
		And(expression.Key(AttrSK).Between(expression.Value(skLowerInclusive(u.Start)), expression.Value(skUpperInclusive(end.Add(-time.Microsecond)))))
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).
		WithFilter(expression.Name(AttrExpiresAt).GreaterThan(expression.Value(s.now().Unix()))).Build()
	if err != nil {
		return err
	}
	pages := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.EventsTable),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return clientError(fmt.Errorf("read unit events: %w", err))
		}
		for _, av := range out.Items {
			e, _, err := decodeEvent(av)
			if err != nil {
				return err
			}
			if err := fn(e, expiresAt(av)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Claim implements telemetry.RollupStore with a conditional put: the lease is free, or
// lapsed, or already owner's.
func (s *Summary) Claim(ctx context.Context, l telemetry.RollupLease, owner string, now, until time.Time) (bool, error) {
	item := leaseKey(l)
	item[attrOwner] = &types.AttributeValueMemberS{Value: owner}
	item[attrUntil] = &types.AttributeValueMemberN{Value: strconv.FormatInt(until.UnixMilli(), 10)}
	item[AttrExpiresAt] = &types.AttributeValueMemberN{Value: strconv.FormatInt(until.Add(24*time.Hour).Unix(), 10)}
	cond := expression.AttributeNotExists(expression.Name(AttrPK)).
		Or(expression.Name(attrUntil).LessThan(expression.Value(now.UnixMilli()))).
		Or(expression.Name(attrOwner).Equal(expression.Value(owner)))
	claimed, err := conditionalPut(ctx, s.db, s.opts.Table, item, cond)
	if err != nil {
		return false, clientError(fmt.Errorf("claim rollup lease: %w", err))
	}
	return claimed, nil
}

// Release implements telemetry.RollupStore: the lease lapses at once if owner holds it.
func (s *Summary) Release(ctx context.Context, l telemetry.RollupLease, owner string) error {
	expr, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(attrUntil), expression.Value(0))).
		WithCondition(expression.Name(attrOwner).Equal(expression.Value(owner))).Build()
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.opts.Table),
		Key:                       leaseKey(l),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	var other *types.ConditionalCheckFailedException
	if errors.As(err, &other) {
		return nil
	}
	if err != nil {
		return clientError(fmt.Errorf("release rollup lease: %w", err))
	}
	return nil
}

// Commit implements telemetry.RollupStore with one TransactWriteItems: a check that the
// lease is still c.Owner's, the rows' parts (and deletes of parts a shorter body no longer
// needs), the setting aside of their buckets' merged rows (merged.go), the totals if set
// (metrics.go), and the conditional deletes of the marks. Marks that moved on are dropped from
// the transaction and it is tried again: the rows are as new as the raw events they were
// read from, and the marks left keep their units stale.
func (s *Summary) Commit(ctx context.Context, c telemetry.RollupCommit) (int, error) {
	owned, err := expression.NewBuilder().WithCondition(expression.Name(attrOwner).Equal(expression.Value(c.Owner))).Build()
	if err != nil {
		return 0, err
	}
	items := []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(s.opts.Table),
		Key:                       leaseKey(c.Lease),
		ConditionExpression:       owned.Condition(),
		ExpressionAttributeNames:  owned.Names(),
		ExpressionAttributeValues: owned.Values(),
	}}}
	expires := strconv.FormatInt(s.now().Add(s.opts.Retention).Unix(), 10)
	for _, r := range c.Rows {
		parts := telemetry.RollupRowParts(len(r.Body))
		for p := range parts {
			item := itemKey(rowPK(r.Resolution, r.Start), rowSK(r.Shard, p))
			item[attrBody] = &types.AttributeValueMemberB{Value: r.Body[p*rowPartBytes : min((p+1)*rowPartBytes, len(r.Body))]}
			item[AttrExpiresAt] = &types.AttributeValueMemberN{Value: expires}
			if p == 0 {
				item[attrParts] = &types.AttributeValueMemberN{Value: strconv.Itoa(parts)}
				item[attrMinExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.MinExpires, 10)}
				item[attrMaxExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.MaxExpires, 10)}
			}
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.opts.Table), Item: item}})
		}
		for p := parts; p < r.Parts; p++ {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.opts.Table),
				Key: itemKey(rowPK(r.Resolution, r.Start), rowSK(r.Shard, p))}})
		}
	}
	gen, err := newGeneration()
	if err != nil {
		return 0, err
	}
	aside, err := s.setAsideMerged(c.Rows, gen, s.now().Add(s.opts.Retention).Unix())
	if err != nil {
		return 0, err
	}
	items = append(items, aside...)
	totalsAt := -1
	if c.Totals != nil {
		w, err := s.totalsWrite(c.Totals)
		if err != nil {
			return 0, err
		}
		totalsAt = len(items)
		items = append(items, w)
	}
	marks := c.Clear
	for attempt := 0; ; attempt++ {
		all := append([]types.TransactWriteItem(nil), items...)
		for _, m := range marks {
			same, err := expression.NewBuilder().WithCondition(expression.Name(attrSeq).Equal(expression.Value(m.Seq))).Build()
			if err != nil {
				return 0, err
			}
			all = append(all, types.TransactWriteItem{Delete: &types.Delete{
				TableName:                 aws.String(s.opts.Table),
				Key:                       itemKey(markPK(m.Shard), bucketKey(m.Start)),
				ConditionExpression:       same.Condition(),
				ExpressionAttributeNames:  same.Names(),
				ExpressionAttributeValues: same.Values(),
			}})
		}
		if len(all) > 100 {
			return 0, fmt.Errorf("rollup commit of %d items is over TransactWriteItems' 100", len(all))
		}
		err := s.transact(ctx, all)
		if err == nil {
			return len(marks), nil
		}
		reasons := cancellationReasons(err)
		if len(reasons) != len(all) {
			return 0, clientError(fmt.Errorf("rollup commit: %w", err))
		}
		if reasons[0] == "ConditionalCheckFailed" {
			return 0, telemetry.ErrLeaseLost
		}
		if totalsAt >= 0 && (reasons[totalsAt] == "ConditionalCheckFailed" || reasons[totalsAt] == "TransactionConflict") {
			return 0, telemetry.ErrTotalsMoved
		}
		var kept []telemetry.StaleMark
		for i, m := range marks {
			if reasons[len(items)+i] != "ConditionalCheckFailed" {
				kept = append(kept, m)
			}
		}
		if len(kept) == len(marks) {
			// The merged rows of a day and an hour are set aside by every shard's
			// commits, which can meet: another try, after a pause, is the answer.
			if slices.Contains(reasons, "TransactionConflict") && s.opts.Backoff.pause(ctx, attempt) {
				continue
			}
			return 0, clientError(fmt.Errorf("rollup commit: %w", err))
		}
		marks = kept
	}
}

func (s *Summary) transact(ctx context.Context, items []types.TransactWriteItem) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}

// cancellationReasons are the per-item codes of a cancelled transaction, in item order.
func cancellationReasons(err error) []string {
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) {
		return nil
	}
	codes := make([]string, len(cancelled.CancellationReasons))
	for i, r := range cancelled.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes
}

// MarkStale records, for each unit, that events were written into it. It is called by
// ingest after the events are written and before they are reported stored, so that a
// rollup which clears a mark has read every event the mark stands for.
// The error is an *UnmarkedError naming the units left unmarked.
//
// Each mark is put whole, with a fresh random Seq, 25 to a BatchWriteItem: a rollup
// clears a mark only while it holds the Seq the rollup read, and any write since holds
// another. A put, unlike an update adding to a counter, can go in a batch, so a request
// whose events span many units (a day's backfill touches hundreds) costs one call per 25
// of them, not one each.
func (s *Summary) MarkStale(ctx context.Context, units []telemetry.RollupUnit) error {
	expires := strconv.FormatInt(s.now().Add(s.opts.Retention).Unix(), 10)
	byKey := make(map[string]telemetry.RollupUnit, len(units))
	reqs := make([]types.WriteRequest, len(units))
	for i, u := range units {
		item := itemKey(markPK(u.Shard), bucketKey(u.Start))
		byKey[keyString(item)] = u
		item[attrSeq] = &types.AttributeValueMemberN{Value: strconv.FormatInt(markSeq(), 10)}
		item[AttrExpiresAt] = &types.AttributeValueMemberN{Value: expires}
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
	}
	var (
		mu     sync.Mutex
		failed []telemetry.RollupUnit
	)
	calls := (len(reqs) + batchWriteMax - 1) / batchWriteMax
	err := s.parallel(ctx, calls, func(ctx context.Context, i int) error {
		left, err := batchPut(ctx, s.db, s.opts.Table, reqs[i*batchWriteMax:min((i+1)*batchWriteMax, len(reqs))], s.opts.Backoff)
		if len(left) == 0 {
			return nil
		}
		mu.Lock()
		for _, r := range left {
			failed = append(failed, byKey[keyString(r.PutRequest.Item)])
		}
		mu.Unlock()
		return fmt.Errorf("mark rollup stale: %w", err)
	})
	if err != nil {
		return clientError(&UnmarkedError{Units: failed, Err: err})
	}
	return nil
}

// markSeq is a mark's Seq: random, positive, and 63 bits wide, so that a rollup never
// meets the Seq it read on a mark written since.
func markSeq() int64 { return rand.Int64N(math.MaxInt64) + 1 }

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func numberAttr(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// query hands each item of the summary table that key selects to each, page by page,
// read consistently when consistent is set.
func (s *Summary) query(ctx context.Context, key expression.KeyConditionBuilder, consistent bool, each func(map[string]types.AttributeValue) error) error {
	expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
	if err != nil {
		return err
	}
	pages := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.Table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(consistent),
	})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, item := range out.Items {
			if err := each(item); err != nil {
				return err
			}
		}
	}
	return nil
}
