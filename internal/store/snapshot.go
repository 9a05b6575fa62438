package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// SnapshotPartBytes is the most compressed snapshot body one item holds: DynamoDB refuses
// items over 400 KB, names and key included
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html),
// and a summary with many long-named open anomalies compresses to several MB.
const SnapshotPartBytes = 350_000

// gzipMagic begins every gzip stream (RFC 1952 §2.3.1); a snapshot stored before bodies
// were compressed is JSON, which begins with '{'.
var gzipMagic = []byte{0x1f, 0x8b}

// A snapshot is stored gzip-compressed in SnapshotPartBytes pieces. The head item, the one
// the readers' Query of a day finds (sk = the time taken), holds the first piece, the
// number of parts and, for more than one, the sum of the compressed body. The other parts
// sit in a partition of their own, SP#<time taken>#<sum>, sk = the part's index: they
// never share the day partition, so the newest-first Query with Limit 1 can only find a
// head, and naming them by their sum means a snapshot written again at the same time with
// another body never mixes its parts with the first one's. The parts are written before
// the head, so a reader that finds a head finds all its parts; a put that fails half way
// leaves only parts no head names, which expire with the head's retention.

// snapshotPartsPK is the partition of the parts after the first of the snapshot taken at
// at whose compressed body has sum sum.
func snapshotPartsPK(at time.Time, sum string) string {
	return snapshotPartPrefix + telemetry.FormatTime(at) + "#" + sum
}

// snapshotPartSK is the sort key of part p (1 and up) of a snapshot.
func snapshotPartSK(p int) string { return fmt.Sprintf("%05d", p) }

// PutSnapshot implements telemetry.RollupStore: body is stored gzip-compressed, its parts
// after the first with PutItem calls in parallel, then the head with one PutItem.
func (s *Summary) PutSnapshot(ctx context.Context, at time.Time, body []byte) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(body) // a bytes.Buffer never fails
	_ = zw.Close()
	packed := buf.Bytes()
	parts := (len(packed) + SnapshotPartBytes - 1) / SnapshotPartBytes
	piece := func(p int) []byte {
		return packed[p*SnapshotPartBytes : min((p+1)*SnapshotPartBytes, len(packed))]
	}
	expires := &types.AttributeValueMemberN{Value: strconv.FormatInt(at.Add(s.opts.Retention).Unix(), 10)}
	var sum string
	if parts > 1 {
		sum = bodySum(packed)
		err := s.parallel(ctx, parts-1, func(ctx context.Context, i int) error {
			item := itemKey(snapshotPartsPK(at, sum), snapshotPartSK(i+1))
			item[attrBody] = &types.AttributeValueMemberB{Value: piece(i + 1)}
			item[AttrExpiresAt] = expires
			_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: item})
			return err
		})
		if err != nil {
			return clientError(fmt.Errorf("put summary snapshot part: %w", err))
		}
	}
	item := itemKey(SnapshotPK(at), telemetry.FormatTime(at))
	item[attrBody] = &types.AttributeValueMemberB{Value: piece(0)}
	item[attrParts] = &types.AttributeValueMemberN{Value: strconv.Itoa(parts)}
	if sum != "" {
		item[attrSum] = &types.AttributeValueMemberS{Value: sum}
	}
	item[AttrExpiresAt] = expires
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: item})
	if err != nil {
		return clientError(fmt.Errorf("put summary snapshot: %w", err))
	}
	return nil
}

// Snapshot implements telemetry.RollupStore: one Query of at's day, newest first, and one
// of the day before when at's day has none yet; for a snapshot of several parts, one
// strongly consistent Query (paged) of its parts. body is the JSON PutSnapshot was given,
// uncompressed; a snapshot stored before compression (one item of plain JSON) reads as
// it always did.
func (s *Summary) Snapshot(ctx context.Context, at time.Time) (time.Time, []byte, bool, error) {
	for _, day := range []time.Time{at, at.Add(-24 * time.Hour)} {
		key := expression.Key(AttrPK).Equal(expression.Value(SnapshotPK(day))).
			And(expression.Key(AttrSK).LessThanEqual(expression.Value(telemetry.FormatTime(at))))
		expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
		if err != nil {
			return time.Time{}, nil, false, err
		}
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.opts.Table),
			KeyConditionExpression:    expr.KeyCondition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(1),
		})
		if err != nil {
			return time.Time{}, nil, false, clientError(fmt.Errorf("read summary snapshot: %w", err))
		}
		if len(out.Items) == 1 {
			taken, err := time.Parse(telemetry.TimeLayout, stringAttr(out.Items[0], AttrSK))
			if err != nil {
				return time.Time{}, nil, false, fmt.Errorf("summary snapshot key: %w", err)
			}
			body, err := s.snapshotBody(ctx, taken, out.Items[0])
			if errors.Is(err, errSnapshotExpired) {
				return time.Time{}, nil, false, nil // older ones expired before it
			}
			if err != nil {
				return time.Time{}, nil, false, err
			}
			return taken, body, true, nil
		}
	}
	return time.Time{}, nil, false, nil
}

// errSnapshotExpired is a snapshot past its retention whose parts TTL has deleted first.
var errSnapshotExpired = errors.New("summary snapshot expired")

// snapshotBody is the uncompressed body of the snapshot whose head is head, taken at taken.
func (s *Summary) snapshotBody(ctx context.Context, taken time.Time, head map[string]types.AttributeValue) ([]byte, error) {
	first, _ := head[attrBody].(*types.AttributeValueMemberB)
	if first == nil {
		return nil, errors.New("summary snapshot without a body")
	}
	if !bytes.HasPrefix(first.Value, gzipMagic) {
		return first.Value, nil
	}
	packed := first.Value
	if parts := numberAttr(head, attrParts); parts > 1 {
		sum := stringAttr(head, attrSum)
		rest, err := s.snapshotParts(ctx, snapshotPartsPK(taken, sum))
		if err != nil {
			return nil, clientError(fmt.Errorf("read summary snapshot parts: %w", err))
		}
		if int64(len(rest)) != parts-1 {
			if exp := numberAttr(head, AttrExpiresAt); exp > 0 && exp <= s.now().Unix() {
				// TTL deletes a snapshot's items one by one, days late and in no order: an
				// expired head whose parts are gone is a snapshot no longer kept.
				return nil, errSnapshotExpired
			}
			return nil, fmt.Errorf("summary snapshot of %s: %d of its %d parts stored", telemetry.FormatTime(taken), len(rest)+1, parts)
		}
		packed = bytes.Join(append([][]byte{first.Value}, rest...), nil)
		if bodySum(packed) != sum {
			return nil, fmt.Errorf("summary snapshot of %s: its parts do not add up to the body it names", telemetry.FormatTime(taken))
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, fmt.Errorf("summary snapshot of %s: %w", telemetry.FormatTime(taken), err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("summary snapshot of %s: %w", telemetry.FormatTime(taken), err)
	}
	return body, nil
}

// snapshotParts reads the parts of partition pk in order, strongly consistent: the head
// was written after them, so a consistent read that follows finding it sees them all.
func (s *Summary) snapshotParts(ctx context.Context, pk string) ([][]byte, error) {
	var parts [][]byte
	err := s.query(ctx, expression.Key(AttrPK).Equal(expression.Value(pk)), true, func(item map[string]types.AttributeValue) error {
		b, ok := item[attrBody].(*types.AttributeValueMemberB)
		if !ok {
			return errors.New("summary snapshot part without a body")
		}
		parts = append(parts, b.Value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parts, nil
}
