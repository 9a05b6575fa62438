package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/store"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// newTable creates an empty events table, and its summary table, with the store's own
// schemas.
func (b *bench) newTable(ctx context.Context, name string) (string, error) {
	b.tables++
	table := fmt.Sprintf("bench-%02d-%s", b.tables, name)
	if err := store.CreateTables(ctx, b.db, store.Tables{Events: table, Summary: summaryTable(table)}); err != nil {
		return "", err
	}
	return table, nil
}

// dropTable frees DynamoDB Local's memory of a table no later figure reads, so the JVM
// does not slow down under data nobody needs.
func (b *bench) dropTable(ctx context.Context, table string) error {
	_, err := b.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("delete table %s: %w", table, err)
	}
	return nil
}

// captured is what the store writes for a set of events: the items, exactly as PutEvents
// builds them, and the day-registry updates that make them visible to queries.
type captured struct {
	items   []map[string]types.AttributeValue
	updates []*dynamodb.UpdateItemInput
	// marks are the staleness marks ingest puts into the summary table after the events
	// of each request of ingestRequest events: marks[i] after items[i*ingestRequest:].
	marks [][]map[string]types.AttributeValue
}

// recorder stands in for DynamoDB to capture what the store would write: it finds
// nothing stored and accepts every write. Capturing, rather than building items here,
// keeps the ceiling's items byte for byte the store's, however its schema changes.
type recorder struct {
	mu      sync.Mutex
	c       captured
	summary string                            // the summary table's name
	marks   []map[string]types.AttributeValue // the marks of the request being captured
}

var _ store.SummaryAPI = (*recorder)(nil)

func (r *recorder) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for table, reqs := range in.RequestItems {
		for _, w := range reqs {
			switch {
			case w.PutRequest == nil:
			case table == r.summary:
				r.marks = append(r.marks, w.PutRequest.Item)
			default:
				r.c.items = append(r.c.items, w.PutRequest.Item)
			}
		}
	}
	return &dynamodb.BatchWriteItemOutput{}, nil
}

func (r *recorder) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, errors.New("bench: the capturing recorder takes no transaction")
}

func (r *recorder) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return &dynamodb.BatchGetItemOutput{}, nil
}

func (r *recorder) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c.updates = append(r.c.updates, in)
	return &dynamodb.UpdateItemOutput{}, nil
}

func (r *recorder) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, nil
}

func (r *recorder) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errors.New("bench: the capturing recorder cannot query")
}

// capture returns the items, registry updates and staleness marks the store writes for
// events, with the configuration a deployed function has, posted ingestRequest at a time
// as the bench's batches of 1,000 are.
func (b *bench) capture(ctx context.Context, events []telemetry.Event) (captured, error) {
	cfg, err := loadConfig(b.endpoint, "capture")
	if err != nil {
		return captured{}, err
	}
	rec := &recorder{summary: cfg.SummaryTable}
	s := store.NewEvents(rec, store.EventsOptions{
		Table: cfg.EventsTable, EventShards: cfg.EventShards, RuntimeShards: cfg.RuntimeShards,
		KindShards: cfg.KindShards, Retention: cfg.Retention,
		WriteConcurrency: 1, // items in event order, the same on every run
		CursorSecret:     []byte(cfg.CursorSecret),
		Stale: store.NewSummary(rec, store.SummaryOptions{Table: cfg.SummaryTable, EventsTable: cfg.EventsTable,
			EventShards: cfg.EventShards, Retention: cfg.RollupRetention}),
	})
	for start := 0; start < len(events); start += ingestRequest {
		request := events[start:min(start+ingestRequest, len(events))]
		outcomes, err := s.PutEvents(ctx, request)
		if err != nil {
			return captured{}, fmt.Errorf("capture items: %w", err)
		}
		for i, o := range outcomes {
			if o != telemetry.Inserted {
				return captured{}, fmt.Errorf("capture items: event %d (%s) came out %d, not inserted", start+i, request[i].ID, o)
			}
		}
		rec.c.marks, rec.marks = append(rec.c.marks, rec.marks), nil
	}
	return rec.c, nil
}

// ingestRequest is the events per request whose marks the protocol ceiling writes: the
// batch size the ingest goal is judged at.
const ingestRequest = 1000

// register replays the day-registry updates of c on table.
func (b *bench) register(ctx context.Context, table string, c captured) error {
	for _, u := range c.updates {
		in := *u
		in.TableName = aws.String(table)
		_, err := b.db.UpdateItem(ctx, &in)
		var lost *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &lost) {
			return fmt.Errorf("register day: %w", err)
		}
	}
	return nil
}

// ceilingKind is what a raw ceiling does beside writing the items.
type ceilingKind int

const (
	ceilingRaw      ceilingKind = iota // BatchWriteItem only
	ceilingProbe                       // each probeSize items probed for first, as the store does
	ceilingProtocol                    // and each request's staleness marks put after its events
)

// rawWrite is the ceiling: items in BatchWriteItem calls of batchWriteSize, workers calls
// in flight, unprocessed items sent again until none is left. It does nothing else, so
// nothing writes these items into DynamoDB Local faster.
// ceilingProbe first asks, for each call of probeSize items, for their keys, as the store's
// existence probe does: the ceiling of the store's duplicate detection, which tells the
// probe's cost apart from everything else ingest does. ceilingProtocol also puts each
// request's marks (c.marks) into table's summary table once all the request's items are
// written, as ingest does: the whole protocol, raw.
func (b *bench) rawWrite(ctx context.Context, table string, c captured, n, workers int, kind ceilingKind, m *meter) error {
	items := c.items[:n]
	size := batchWriteSize
	if kind != ceilingRaw {
		size = probeSize
	}
	var batches [][]map[string]types.AttributeValue
	for start := 0; start < len(items); start += size {
		batches = append(batches, items[start:min(start+size, len(items))])
	}
	// left counts, per request, the batches not yet written; the worker that writes a
	// request's last batch puts its marks.
	left := make([]atomic.Int64, (len(items)+ingestRequest-1)/ingestRequest)
	for i := range batches {
		left[i*size/ingestRequest].Add(1)
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batches) || ctx.Err() != nil {
					return
				}
				if err := b.writeBatch(ctx, table, batches[i], kind != ceilingRaw); err != nil {
					errs[w] = err
					return
				}
				r := i * size / ingestRequest
				if kind == ceilingProtocol && left[r].Add(-1) == 0 {
					if err := b.putAll(ctx, summaryTable(table), c.marks[r]); err != nil {
						errs[w] = err
						return
					}
				}
				m.add(len(batches[i]))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// putAll writes items into table, batchWriteSize to a call, one call after another.
func (b *bench) putAll(ctx context.Context, table string, items []map[string]types.AttributeValue) error {
	for start := 0; start < len(items); start += batchWriteSize {
		chunk := items[start:min(start+batchWriteSize, len(items))]
		reqs := make([]types.WriteRequest, len(chunk))
		for i, it := range chunk {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
		if err := b.writeAll(ctx, table, reqs); err != nil {
			return err
		}
	}
	return nil
}

// batchWriteSize is BatchWriteItem's limit; probeSize is BatchGetItem's, which the
// store's probe uses.
const (
	batchWriteSize = 25
	probeSize      = 100
)

func (b *bench) writeBatch(ctx context.Context, table string, items []map[string]types.AttributeValue, probe bool) error {
	if probe {
		keys := make([]map[string]types.AttributeValue, len(items))
		for i, it := range items {
			keys[i] = map[string]types.AttributeValue{store.AttrPK: it[store.AttrPK], store.AttrSK: it[store.AttrSK]}
		}
		names := map[string]string{}
		var projection []string
		for i, attr := range store.ProbeAttributes {
			names["#p"+strconv.Itoa(i)] = attr
			projection = append(projection, "#p"+strconv.Itoa(i))
		}
		for len(keys) > 0 {
			// As the store's probe: strongly consistent, the probe's attributes only.
			out, err := b.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{table: {
					Keys:                     keys,
					ConsistentRead:           aws.Bool(true),
					ProjectionExpression:     aws.String(strings.Join(projection, ", ")),
					ExpressionAttributeNames: names,
				}},
			})
			if err != nil {
				return fmt.Errorf("batch get: %w", err)
			}
			keys = out.UnprocessedKeys[table].Keys
		}
	}
	return b.putAll(ctx, table, items)
}

func (b *bench) writeAll(ctx context.Context, table string, reqs []types.WriteRequest) error {
	for attempt := 0; len(reqs) > 0; attempt++ {
		out, err := b.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{table: reqs},
		})
		if err != nil {
			return fmt.Errorf("batch write: %w", err)
		}
		reqs = out.UnprocessedItems[table]
		if len(reqs) > 0 {
			if attempt >= 20 {
				return fmt.Errorf("batch write: %d items still unprocessed after %d attempts", len(reqs), attempt+1)
			}
			time.Sleep(min(time.Duration(1<<attempt)*10*time.Millisecond, time.Second))
		}
	}
	return nil
}

// load stores events in table through the store itself, as a function would but
// without HTTP in the way, several calls at once: the quick way to have data to query.
func (b *bench) load(ctx context.Context, table string, events []telemetry.Event, m *meter) error {
	deps, err := b.deps(ctx, table)
	if err != nil {
		return err
	}
	const chunk, inFlight = 1000, 2
	var next atomic.Int64
	errs := make([]error, inFlight)
	var wg sync.WaitGroup
	for w := range inFlight {
		wg.Go(func() {
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= len(events) || ctx.Err() != nil {
					return
				}
				part := events[start:min(start+chunk, len(events))]
				outcomes, err := deps.Events.PutEvents(ctx, part)
				if err != nil {
					errs[w] = fmt.Errorf("load %s: %w", table, err)
					return
				}
				for i, o := range outcomes {
					if o == telemetry.NotStored {
						errs[w] = fmt.Errorf("load %s: event %s not stored", table, part[i].ID)
						return
					}
				}
				m.add(len(part))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
