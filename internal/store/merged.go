package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// A bucket's merged row lives in the bucket's own partition, beside its shard rows, under
// sort keys mergedSKPrefix + part ("all#000", ...), which sort after every shard row's
// ("0000#000" ...), so a Query of the shard rows stops before them.
//
// Its life, so that a reader never takes a merged row that its shard rows have moved past:
//   - every rollup commit sets aside the merged row of each bucket whose shard row it
//     writes, in the same transaction that clears the units' marks: the body goes and the
//     generation attribute takes a token no other commit uses;
//   - the rollup then reads the generation, then the shard rows, and writes the merged
//     body on condition that the generation is unchanged, dropping it; a commit in between
//     makes the write fail, and that commit's run merges again.
//
// So a merged body, whenever it is there, is the merge of the shard rows as they are. A
// merged row written after the rollup finished carries no generation, so reruns leave
// identical items.
//
// A merge too large for one transaction is not written; the first item then records the
// digest of the shard rows it was made from (attrTooLarge). A commit sets the row aside
// whenever it writes a shard row, even one rewritten the same (a resend of events already
// stored marks their units stale again), so the generation alone cannot say whether the
// merge would come out the same: the digest can, and MergeSource reports such a bucket as
// having nothing to write until one of its shard rows differs.
const (
	mergedSKPrefix = "all#"
	attrGen        = "gen"
	// attrSum, on every part of a merged row longer than one item: a digest of the whole
	// body, so a reader joins only parts of one write.
	attrSum = "sum"
	// attrMergedRows, on the totals item: the layout of the table's rows
	// (telemetry.RollupLayoutMerged and after) when every bucket holding rows has a
	// merged row item, and for RollupLayoutSixHours every 6-hour bucket too (the totals
	// were created by a rollup that keeps them). Without it, a bucket without one may
	// hold rows an earlier rollup wrote.
	attrMergedRows = "merged_rows"
	// attrTooLarge, on the first item of a merged row that is not written: the digest
	// (rowsDigest) of the shard rows whose merge was too large to write.
	attrTooLarge = "too_large"
)

func mergedSK(part int) string { return fmt.Sprintf("%s%03d", mergedSKPrefix, part) }

// newGeneration is a token no other commit uses: 64 random bits.
func newGeneration() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// setAsideMerged is the transaction items of a commit that set aside the merged rows of
// the buckets of rows: one per bucket, whatever the shards and parts.
func (s *Summary) setAsideMerged(rows []telemetry.RollupRow, gen string, expires int64) ([]types.TransactWriteItem, error) {
	expr, err := expression.NewBuilder().WithUpdate(
		expression.Set(expression.Name(attrGen), expression.Value(gen)).
			Set(expression.Name(AttrExpiresAt), expression.Value(expires)).
			Remove(expression.Name(attrBody))).Build()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var items []types.TransactWriteItem
	for _, r := range rows {
		pk := rowPK(r.Resolution, r.Start)
		if seen[pk] {
			continue
		}
		seen[pk] = true
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.opts.Table),
			Key:                       itemKey(pk, mergedSK(0)),
			UpdateExpression:          expr.Update(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
		}})
	}
	return items, nil
}

// MergeSource implements telemetry.RollupStore: one strongly consistent read of the merged
// row's first item, then, unless it is current, one Query of the shard rows. Rows whose
// merge PutMerged found too large to write count as current: their merge would be the
// same. The token returned holds the generation and the digest of the rows read, for
// PutMerged to record should their merge be too large.
func (s *Summary) MergeSource(ctx context.Context, b telemetry.RollupBucket) (string, bool, []telemetry.RollupRow, error) {
	items, err := s.batchGet(ctx, []map[string]types.AttributeValue{itemKey(rowPK(b.Resolution, b.Start), mergedSK(0))})
	if err != nil {
		return "", false, nil, clientError(fmt.Errorf("read merged rollup row: %w", err))
	}
	gen, tooLarge := "", ""
	if len(items) == 1 {
		if _, ok := items[0][attrBody]; ok {
			return "", true, nil, nil
		}
		gen, tooLarge = stringAttr(items[0], attrGen), stringAttr(items[0], attrTooLarge)
	}
	rows, err := s.rows(ctx, b.Resolution, b.Start, true)
	if err != nil {
		return "", false, nil, err
	}
	digest := rowsDigest(rows)
	if tooLarge != "" && tooLarge == digest {
		return "", true, nil, nil
	}
	return mergeToken{gen: gen, sources: digest}.String(), false, rows, nil
}

// mergeToken is what MergeSource hands the rollup for PutMerged: the merged row's
// generation and the digest of the shard rows read.
type mergeToken struct{ gen, sources string }

func (t mergeToken) String() string { return t.gen + "@" + t.sources }

// parseMergeToken reads a token of MergeSource; a bare generation (no "@") has no digest.
func parseMergeToken(s string) mergeToken {
	gen, sources, _ := strings.Cut(s, "@")
	return mergeToken{gen: gen, sources: sources}
}

// rowsDigest identifies the content of a bucket's shard rows, in the order read (by
// shard): 128 bits of SHA-256, hexadecimal.
func rowsDigest(rows []telemetry.RollupRow) string {
	h := sha256.New()
	for _, r := range rows {
		fmt.Fprintf(h, "%d:%d:%d:%d:", r.Shard, r.MinExpires, r.MaxExpires, len(r.Body))
		h.Write(r.Body)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// maxTransactBytes is DynamoDB's limit on the items of one transaction: "the aggregate
// size of the items in the transaction cannot exceed 4 MB"
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).
const maxTransactBytes = 4 << 20

// mergedPartOverhead bounds what an item of a merged row holds beside its body: its keys,
// expiry, checksum and counts, with their attribute names.
const mergedPartOverhead = 512

// PutMerged implements telemetry.RollupStore: a conditional PutItem, or for a body of
// several parts one TransactWriteItems of them all. A body too large for one transaction
// (a bucket of thousands of distinct long values) is not written: readers go on reading
// the bucket's shard rows, as for any bucket not merged, where failing would stop every
// rollup run at this bucket. The digest of the rows it was merged from is recorded
// instead (one conditional UpdateItem), so MergeSource does not offer the same rows again.
func (s *Summary) PutMerged(ctx context.Context, row telemetry.RollupRow, token string) (bool, error) {
	t := parseMergeToken(token)
	cond := expression.Name(attrGen).Equal(expression.Value(t.gen))
	if t.gen == "" {
		cond = expression.AttributeNotExists(expression.Name(AttrPK))
	}
	if parts := telemetry.RollupRowParts(len(row.Body)); parts > 1 && len(row.Body)+parts*mergedPartOverhead > maxTransactBytes {
		return false, s.recordTooLarge(ctx, row, t, cond)
	}
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return false, err
	}
	expires := strconv.FormatInt(s.now().Add(s.opts.Retention).Unix(), 10)
	parts := telemetry.RollupRowParts(len(row.Body))
	var sum string
	if parts > 1 {
		sum = bodySum(row.Body)
	}
	items := make([]map[string]types.AttributeValue, parts)
	for p := range parts {
		item := itemKey(rowPK(row.Resolution, row.Start), mergedSK(p))
		item[attrBody] = &types.AttributeValueMemberB{Value: row.Body[p*rowPartBytes : min((p+1)*rowPartBytes, len(row.Body))]}
		item[AttrExpiresAt] = &types.AttributeValueMemberN{Value: expires}
		if sum != "" {
			item[attrSum] = &types.AttributeValueMemberS{Value: sum}
		}
		if p == 0 {
			item[attrParts] = &types.AttributeValueMemberN{Value: strconv.Itoa(parts)}
			item[attrMinExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(row.MinExpires, 10)}
			item[attrMaxExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(row.MaxExpires, 10)}
		}
		items[p] = item
	}
	if parts == 1 {
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.opts.Table),
			Item:                      items[0],
			ConditionExpression:       expr.Condition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
		})
	} else {
		tx := []types.TransactWriteItem{{Put: &types.Put{
			TableName:                 aws.String(s.opts.Table),
			Item:                      items[0],
			ConditionExpression:       expr.Condition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
		}}}
		for _, item := range items[1:] {
			tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.opts.Table), Item: item}})
		}
		err = s.transact(ctx, tx)
	}
	var (
		failed   *types.ConditionalCheckFailedException
		conflict *types.TransactionConflictException
	)
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &failed), errors.As(err, &conflict):
		// A commit set the row aside since (or is doing so now): its run merges again.
		return false, nil
	}
	for _, reason := range cancellationReasons(err) {
		if reason == "ConditionalCheckFailed" || reason == "TransactionConflict" {
			return false, nil
		}
	}
	return false, clientError(fmt.Errorf("write merged rollup row: %w", err))
}

// recordTooLarge records on the first item of row's merged row that the merge of the shard
// rows t names is too large to write, on condition cond (no commit since MergeSource; a
// commit since sets the row aside again, and its run merges it). The item keeps no body, so
// readers read the shard rows; a new item expires with the retention as a merged row does.
func (s *Summary) recordTooLarge(ctx context.Context, row telemetry.RollupRow, t mergeToken, cond expression.ConditionBuilder) error {
	if t.sources == "" {
		return nil
	}
	expires := s.now().Add(s.opts.Retention).Unix()
	expr, err := expression.NewBuilder().WithCondition(cond).WithUpdate(
		expression.Set(expression.Name(attrTooLarge), expression.Value(t.sources)).
			Set(expression.Name(AttrExpiresAt), expression.IfNotExists(expression.Name(AttrExpiresAt), expression.Value(expires)))).Build()
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.opts.Table),
		Key:                       itemKey(rowPK(row.Resolution, row.Start), mergedSK(0)),
		ConditionExpression:       expr.Condition(),
		UpdateExpression:          expr.Update(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	var failed *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &failed) {
		return nil
	}
	return clientError(fmt.Errorf("record merged rollup row too large: %w", err))
}

// MergedRows implements telemetry.MergedRowsReader: the first item of every bucket's
// merged row and the totals item in BatchGetItem calls of 100 keys, in parallel, strongly
// consistent (a merged row must be read after the marks, as new as they are), and the
// further parts of the few merged rows longer than one item in one more round.
func (s *Summary) MergedRows(ctx context.Context, buckets []telemetry.RollupBucket) ([]telemetry.MergedRow, int, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(buckets)+1)
	for _, b := range buckets {
		keys = append(keys, itemKey(rowPK(b.Resolution, b.Start), mergedSK(0)))
	}
	keys = append(keys, itemKey(metricsPK, totalsSK))
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, 0, clientError(fmt.Errorf("read merged rollup rows: %w", err))
	}
	read := len(items)
	first := map[string]map[string]types.AttributeValue{}
	complete, layout := true, 0
	for _, item := range items {
		pk := stringAttr(item, AttrPK)
		if pk == metricsPK {
			layout = int(numberAttr(item, attrMergedRows))
			complete = layout >= telemetry.RollupLayoutMerged
			continue
		}
		first[pk] = item
	}
	out := make([]telemetry.MergedRow, len(buckets))
	// Set last: the loops below replace rows they find torn by a zero row.
	withLayout := func() ([]telemetry.MergedRow, int, error) {
		for i := range out {
			out[i].Layout = layout
		}
		return out, read, nil
	}
	var more []map[string]types.AttributeValue
	for i, b := range buckets {
		item, ok := first[rowPK(b.Resolution, b.Start)]
		if !ok {
			if complete {
				out[i].State = telemetry.MergedEmpty
			}
			continue
		}
		body, ok := item[attrBody].(*types.AttributeValueMemberB)
		if !ok {
			continue // set aside by a commit, not merged again yet
		}
		out[i] = telemetry.MergedRow{State: telemetry.MergedCurrent, Row: telemetry.RollupRow{
			Resolution: b.Resolution, Start: b.Start, Shard: telemetry.MergedShard,
			Body: append([]byte(nil), body.Value...), Parts: max(int(numberAttr(item, attrParts)), 1),
			MinExpires: numberAttr(item, attrMinExpires), MaxExpires: numberAttr(item, attrMaxExpires),
		}}
		for p := 1; p < out[i].Row.Parts; p++ {
			more = append(more, itemKey(rowPK(b.Resolution, b.Start), mergedSK(p)))
		}
	}
	if len(more) == 0 {
		return withLayout()
	}
	rest, err := s.batchGet(ctx, more)
	if err != nil {
		return nil, 0, clientError(fmt.Errorf("read merged rollup rows: %w", err))
	}
	read += len(rest)
	parts := map[string]map[string]types.AttributeValue{}
	for _, item := range rest {
		parts[stringAttr(item, AttrPK)+"|"+stringAttr(item, AttrSK)] = item
	}
	for i, b := range buckets {
		r := &out[i].Row
		if out[i].State != telemetry.MergedCurrent || r.Parts == 1 {
			continue
		}
		pk := rowPK(b.Resolution, b.Start)
		sum := stringAttr(first[pk], attrSum)
		for p := 1; p < r.Parts; p++ {
			item := parts[pk+"|"+mergedSK(p)]
			body, ok := item[attrBody].(*types.AttributeValueMemberB)
			if !ok || sum == "" || stringAttr(item, attrSum) != sum {
				// Parts of another write (a merge raced this read): read the shard rows.
				out[i] = telemetry.MergedRow{}
				break
			}
			r.Body = append(r.Body, body.Value...)
		}
		if out[i].State == telemetry.MergedCurrent && bodySum(r.Body) != sum {
			out[i] = telemetry.MergedRow{}
		}
	}
	return withLayout()
}

func bodySum(body []byte) string {
	d := sha256.Sum256(body)
	return hex.EncodeToString(d[:16])
}

// batchGet reads keys with strong consistency in BatchGetItem calls of at most 100 keys,
// in parallel, retrying the keys DynamoDB leaves unprocessed.
func (s *Summary) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	chunks := (len(keys) + batchGetMax - 1) / batchGetMax
	got := make([][]map[string]types.AttributeValue, chunks)
	err := s.parallel(ctx, chunks, func(ctx context.Context, c int) error {
		pending := keys[c*batchGetMax : min((c+1)*batchGetMax, len(keys))]
		for attempt := 0; len(pending) > 0; attempt++ {
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.opts.Table: {Keys: pending, ConsistentRead: aws.Bool(true)}},
			})
			if err != nil && !isRetryable(err) {
				return err
			}
			if err == nil {
				got[c] = append(got[c], out.Responses[s.opts.Table]...)
				pending = out.UnprocessedKeys[s.opts.Table].Keys
				if len(pending) == 0 {
					return nil
				}
			}
			if !s.opts.Backoff.pause(ctx, attempt) {
				if err == nil {
					err = errors.New("unprocessed keys left after retries")
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var all []map[string]types.AttributeValue
	for _, g := range got {
		all = append(all, g...)
	}
	return all, nil
}
