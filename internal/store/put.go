package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// markReserve is the time the staleness marks of a request keep for themselves: a few
// dozen conditional updates in parallel, a fraction of a second even on a loaded store.
const markReserve = 1500 * time.Millisecond

const (
	batchWriteMax = 25  // BatchWriteItem's limit
	batchGetMax   = 100 // BatchGetItem's limit; one existence probe covers four writes
)

// pending is one event on its way into the table. Its item is marshalled only when its
// batch is written, so a 10,000-event request never holds all its items at once.
type pending struct {
	index  int // position in the caller's slice
	pk, sk string
	// guard is the key of the event's id guard when the client gave the id: an item that
	// makes the id alone the idempotency key, whatever ts a resend carries.
	guard string
}

// probeKeys are the keys whose existence makes the event a duplicate.
func (p pending) probeKeys() []map[string]types.AttributeValue {
	if p.guard == "" {
		return []map[string]types.AttributeValue{itemKey(p.pk, p.sk)}
	}
	return []map[string]types.AttributeValue{itemKey(p.pk, p.sk), itemKey(p.guard, guardSK)}
}

// guardOf is how an id guard names p's event, its attrGuardOf.
func (p pending) guardOf() string { return p.pk + "/" + p.sk }

// guardSK is the sort key of every id guard item; its partition key is guardPK(id).
const guardSK = "ID"

// GuardPrefix opens the partition key of an id guard: GuardPrefix + the client's id.
// Ids are random enough to spread guards over partitions, and a guard is written once
// per event. The ingest functions may put items under it and no other PutItem.
const GuardPrefix = "I#"

// guardPK is the partition key of the id guard of a client id.
func guardPK(id string) string { return GuardPrefix + id }

// PutEvents stores events. Each is first probed for by key (an event already stored is a
// Duplicate and is not written again), then written with BatchWriteItem in batches of 25,
// several batches at once, retrying unprocessed items and throttling with jittered
// backoff until the request deadline nears. Events that could still not be written are
// reported NotStored, so the client can resend them; resending is always safe.
func (s *Events) PutEvents(ctx context.Context, events []telemetry.Event) ([]telemetry.PutOutcome, error) {
	// Every call, not only the pauses between retries, must end before the reserve the
	// handler needs to answer, or Lambda kills it before it can say what was not stored.
	// The writes stop markReserve earlier still, so that the marks of what they wrote have
	// time of their own even when a slow store took every moment the writes were given.
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-s.opts.Backoff.Reserve))
		defer cancel()
	}
	writeCtx := ctx
	if deadline, ok := ctx.Deadline(); ok && s.opts.Stale != nil {
		var cancel context.CancelFunc
		writeCtx, cancel = context.WithDeadline(ctx, deadline.Add(-markReserve))
		defer cancel()
	}
	outcomes := make([]telemetry.PutOutcome, len(events))
	firstOf := make(map[string]int, len(events)) // item key → index of its first occurrence
	keyOf := make([]string, len(events))
	var work []pending
	dayExpiry := map[string]int64{}
	for i := range events {
		pk, sk := s.keys.primary(&events[i])
		k := pk + "\x00" + sk
		p := pending{index: i, pk: pk, sk: sk}
		if events[i].IDGiven {
			p.guard = guardPK(events[i].ID)
			k = p.guard
		}
		keyOf[i] = k
		if _, seen := firstOf[k]; seen {
			continue
		}
		firstOf[k] = i
		work = append(work, p)
		day := dayOf(events[i].TS)
		dayExpiry[day] = max(dayExpiry[day], expiry(&events[i], s.opts.Retention))
	}
	// The day registry is written before any event, so a query never misses a day that
	// holds an event it was told is stored; it is written while the probes read, not
	// before them, as the probes write nothing (one round trip less on every request
	// that registers a day, which every cold start's first does).
	registered := make(chan error, 1)
	go func() { registered <- s.registerDays(writeCtx, dayExpiry) }()
	waitRegistry := sync.OnceValue(func() error { return <-registered })

	var (
		mu       sync.Mutex
		firstErr error
	)
	record := func(batch []pending, outcome telemetry.PutOutcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range batch {
			outcomes[p.index] = outcome
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	pace := newPacer(s.opts.WriteConcurrency)
	g, gctx := errgroup.WithContext(writeCtx)
	g.SetLimit(s.opts.WriteConcurrency)
	for rank, chunk := range probeChunks(work) {
		g.Go(func() error {
			if err := pace.acquire(gctx, rank); err != nil {
				record(chunk, telemetry.NotStored, err)
				return nil
			}
			defer pace.done()
			// Every call of the chunk, its claims included, ends with the writes: the
			// marks of all it stored keep their own time, however slow the claims.
			gctx := withPacing(gctx, pace)
			pr, err := s.probe(gctx, chunk)
			record(pr.dups, telemetry.Duplicate, nil)
			fresh := pr.fresh
			if err == nil && len(fresh) > 0 {
				err = waitRegistry()
			}
			if err != nil {
				record(fresh, telemetry.NotStored, err)
				return nil
			}
			// A copy of an id another event holds is removed: the id is stored, so it is a
			// duplicate, but a copy left would be counted twice. One that could not be
			// removed is reported not stored, for its resend to remove it.
			removed, err := s.dropCopies(gctx, pr.strays)
			record(removed, telemetry.Duplicate, nil)
			record(without(pr.strays, removed), telemetry.NotStored, err)
			var written []pending
			for b := 0; b < len(fresh); b += batchWriteMax {
				batch := fresh[b:min(b+batchWriteMax, len(fresh))]
				left, err := s.writeBatch(gctx, batch, events)
				stored := without(batch, left)
				written = append(written, stored...)
				record(stored, telemetry.Inserted, nil)
				record(left, telemetry.NotStored, err)
			}
			// Guards only after their events: a guard without its event would make the
			// resend of an unstored event a "duplicate" and lose it. A claim cut short
			// leaves its copies unclaimed and reported not stored; the resend claims them
			// without writing them again.
			record(pr.unclaimed, telemetry.Inserted, nil)
			lost, unresolved, err := s.claimIDs(gctx, append(written, pr.unclaimed...), events)
			record(lost, telemetry.Duplicate, nil)
			record(unresolved, telemetry.NotStored, err)
			return nil
		})
	}
	_ = g.Wait() // workers report through record; none returns an error
	if err := waitRegistry(); err != nil && firstErr == nil {
		firstErr = err
	}
	if err := s.markStale(ctx, events, outcomes); err != nil && firstErr == nil {
		firstErr = err
	}

	// A repeat within the request shares the fate of its first occurrence.
	for i, k := range keyOf {
		if first := firstOf[k]; first != i && outcomes[first] != telemetry.NotStored {
			outcomes[i] = telemetry.Duplicate
			if outcomes[first] == telemetry.Unmarked {
				outcomes[i] = telemetry.Unmarked
			}
		}
	}
	return outcomes, clientError(firstErr)
}

// probeChunks splits work into chunks whose probe keys fit one BatchGetItem.
func probeChunks(work []pending) [][]pending {
	var chunks [][]pending
	start, keys := 0, 0
	for i, p := range work {
		n := len(p.probeKeys())
		if keys+n > batchGetMax {
			chunks = append(chunks, work[start:i])
			start, keys = i, 0
		}
		keys += n
	}
	if start < len(work) {
		chunks = append(chunks, work[start:])
	}
	return chunks
}

// probed is what a probe found of a chunk of events.
type probed struct {
	fresh []pending // not stored: to write
	dups  []pending // stored (and, with a client id, holding it): duplicates
	// unclaimed are stored copies whose id no event holds yet: a request that wrote them
	// was cut off before its claim answered. They are claimed, not written again.
	unclaimed []pending
	// strays are stored copies of an id another event holds: left by a request that lost
	// the id but could not remove its copy, or whose claim never answered.
	strays []pending
}

// probe sorts chunk by what is stored: events not yet stored, stored ones, and, for
// events with a client id, copies not yet claimed and copies of an id another event
// holds. It reads keys, expiry and the event a guard names only, which is all the ingest
// function's IAM policy lets it read. An expired copy that TTL has not deleted yet counts
// as not stored: every read hides it, so answering "duplicate" would lose the event. Reads
// are strongly consistent so that a resend right after a timeout is recognised. On an
// error the whole chunk is fresh, with nothing written.
func (s *Events) probe(ctx context.Context, chunk []pending) (probed, error) {
	var keys []map[string]types.AttributeValue
	for _, p := range chunk {
		keys = append(keys, p.probeKeys()...)
	}
	found := map[string]bool{}
	holder := map[string]string{} // guard key → the "<pk>/<sk>" of the event it names
	for attempt := 0; len(keys) > 0; attempt++ {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.opts.Table: {
				Keys:                     keys,
				ConsistentRead:           aws.Bool(true),
				ProjectionExpression:     aws.String(probeProjection),
				ExpressionAttributeNames: probeNames,
			}},
		})
		if err != nil && !isRetryable(err) {
			return probed{fresh: chunk}, fmt.Errorf("probe for stored events: %w", err)
		}
		if err == nil {
			now := s.now().Unix()
			for _, item := range out.Responses[s.opts.Table] {
				if expiresAt(item) > now {
					found[keyString(item)] = true
					if of := stringAttr(item, attrGuardOf); of != "" {
						holder[keyString(item)] = of
					}
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
			return probed{fresh: chunk}, fmt.Errorf("probe for stored events: %w", err)
		}
	}
	var pr probed
	for _, p := range chunk {
		stored := found[p.pk+"\x00"+p.sk]
		if p.guard == "" {
			if stored {
				pr.dups = append(pr.dups, p)
			} else {
				pr.fresh = append(pr.fresh, p)
			}
			continue
		}
		of, held := holder[p.guard+"\x00"+guardSK]
		switch {
		case held && stored && of != p.guardOf():
			pr.strays = append(pr.strays, p)
		case held:
			pr.dups = append(pr.dups, p)
		case stored:
			pr.unclaimed = append(pr.unclaimed, p)
		default:
			pr.fresh = append(pr.fresh, p)
		}
	}
	return pr, nil
}

// Stored reports which of events are already stored and unexpired, by key, with the same
// strongly consistent probe PutEvents runs before it writes (and so within the ingest
// function's IAM policy).
func (s *Events) Stored(ctx context.Context, events []telemetry.Event) ([]bool, error) {
	stored := make([]bool, len(events))
	for start := 0; start < len(events); start += batchGetMax {
		chunk := make([]pending, 0, batchGetMax)
		for i := start; i < min(start+batchGetMax, len(events)); i++ {
			pk, sk := s.keys.primary(&events[i])
			chunk = append(chunk, pending{index: i, pk: pk, sk: sk})
		}
		pr, err := s.probe(ctx, chunk)
		if err != nil {
			return nil, clientError(err)
		}
		for _, p := range pr.dups {
			stored[p.index] = true
		}
	}
	return stored, nil
}

var probeProjection, probeNames = func() (string, map[string]string) {
	names := map[string]string{}
	var placeholders []string
	for i, attr := range ProbeAttributes {
		p := "#p" + strconv.Itoa(i)
		names[p] = attr
		placeholders = append(placeholders, p)
	}
	return strings.Join(placeholders, ", "), names
}()

// writeBatch writes up to 25 of events and returns those it could not write.
func (s *Events) writeBatch(ctx context.Context, batch []pending, events []telemetry.Event) ([]pending, error) {
	byKey := make(map[string]pending, len(batch))
	reqs := make([]types.WriteRequest, len(batch))
	for i, p := range batch {
		item, err := attributevalue.MarshalMap(s.keys.item(&events[p.index], s.opts.Retention))
		if err != nil {
			return batch, fmt.Errorf("marshal event %d: %w", p.index, err)
		}
		byKey[p.pk+"\x00"+p.sk] = p
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
	}
	left, err := batchPut(ctx, s.db, s.opts.Table, reqs, s.opts.Backoff)
	if len(left) == 0 {
		return nil, nil
	}
	unwritten := make([]pending, 0, len(left))
	for _, r := range left {
		unwritten = append(unwritten, byKey[keyString(r.PutRequest.Item)])
	}
	return unwritten, fmt.Errorf("batch write: %w", err)
}

// claimIDs writes the id guards of the client ids among written (one probe's, at most 50),
// each on condition that no other event holds its id: absent, expired, or naming this
// very event. An event whose id another event holds — a concurrent post of the same id
// with another ts, which passed the probe as this one did — is deleted again and
// returned: it is a duplicate. So of posts racing each other exactly one keeps its event.
//
// The guards go in one TransactWriteItems (at most 100 items), DynamoDB's only call that
// puts several items on conditions: one call per probe, not one per event. A transaction
// costs twice the write units of its items, but only the guards are in it, each under its
// own id's partition key; the events stay in BatchWriteItem, so their busy keys pay
// nothing more. A transaction is refused whole when one condition fails; the
// cancellation reasons name which, and the rest is sent again without them.
//
// A claim that gets no answer in time (the store throttling past the retries, the
// request's time running out) is not taken as won: its event is returned unresolved, to
// be reported not stored, with the error. Its copy stays, and the resend the client is
// asked for finds it unclaimed (probe) and claims it, or finds the id held and removes
// it, so a slow store never leaves two copies of an id behind. A loser whose copy could
// not be removed is unresolved too, for the same resend to remove it. lost are the
// events whose ids others hold, their copies removed: duplicates.
func (s *Events) claimIDs(ctx context.Context, written []pending, events []telemetry.Event) (lost, unresolved []pending, err error) {
	var todo, held []pending
	for _, p := range written {
		if p.guard != "" {
			todo = append(todo, p)
		}
	}
	now := s.now().Unix()
	var lastErr error
	for attempt := 0; len(todo) > 0; attempt++ {
		items := make([]types.TransactWriteItem, len(todo))
		for i, p := range todo {
			put, err := s.guardPut(p, expiry(&events[p.index], s.opts.Retention), now)
			if err != nil {
				return nil, append(todo, held...), err
			}
			items[i] = types.TransactWriteItem{Put: put}
		}
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			todo = nil
			break
		}
		lastErr = err
		reasons := cancellationReasons(err)
		if len(reasons) != len(todo) {
			if isRetryable(err) && s.opts.Backoff.pause(ctx, attempt) {
				continue
			}
			break
		}
		var again []pending
		for i, r := range reasons {
			if r == "ConditionalCheckFailed" {
				held = append(held, todo[i])
			} else {
				again = append(again, todo[i]) // cancelled for another item, in conflict, or throttled
			}
		}
		lostNone := len(again) == len(todo)
		todo = again
		// Only a round that lost no guard waits: the others were refused for its failures.
		if lostNone && !s.opts.Backoff.pause(ctx, attempt) {
			break
		}
	}
	lost, dropErr := s.dropCopies(ctx, held)
	unresolved = append(todo, without(held, lost)...)
	if len(unresolved) == 0 {
		return lost, nil, nil
	}
	if len(todo) == 0 || lastErr == nil {
		lastErr = errors.Join(dropErr, ctx.Err())
	}
	return lost, unresolved, fmt.Errorf("claim %d client ids: %w", len(unresolved), lastErr)
}

// guardPut is the conditional put of p's id guard (expiring with its event): it holds
// when no unexpired guard exists, or when the guard names this very event, so that a
// concurrent post of the same event, with the same key, finds the id its own.
func (s *Events) guardPut(p pending, expires, now int64) (*types.Put, error) {
	of := p.guardOf()
	item := itemKey(p.guard, guardSK)
	item[AttrExpiresAt] = &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)}
	item[attrGuardOf] = &types.AttributeValueMemberS{Value: of}
	free := expression.AttributeNotExists(expression.Name(AttrPK)).
		Or(expression.Name(AttrExpiresAt).LessThanEqual(expression.Value(now))).
		Or(expression.Name(attrGuardOf).Equal(expression.Value(of)))
	expr, err := expression.NewBuilder().WithCondition(free).Build()
	if err != nil {
		return nil, fmt.Errorf("id guard condition: %w", err)
	}
	return &types.Put{
		TableName: aws.String(s.opts.Table), Item: item,
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}, nil
}

// dropCopies deletes the events of held, whose ids other events hold, and returns those
// deleted (duplicates) and, when some could not be, the store's last error.
func (s *Events) dropCopies(ctx context.Context, held []pending) ([]pending, error) {
	if len(held) == 0 {
		return nil, nil
	}
	byKey := make(map[string]pending, len(held))
	reqs := make([]types.WriteRequest, len(held))
	for i, p := range held {
		byKey[p.pk+"\x00"+p.sk] = p
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: itemKey(p.pk, p.sk)}}
	}
	var lastErr error
	for start := 0; start < len(reqs); start += batchWriteMax {
		left, err := batchPut(ctx, s.db, s.opts.Table, reqs[start:min(start+batchWriteMax, len(reqs))], s.opts.Backoff)
		for _, r := range left {
			delete(byKey, keyString(r.DeleteRequest.Key))
		}
		if len(left) > 0 {
			lastErr = errors.Join(err, errCopiesLeft)
		}
	}
	dropped := make([]pending, 0, len(byKey))
	for _, p := range held {
		if _, ok := byKey[p.pk+"\x00"+p.sk]; ok {
			dropped = append(dropped, p)
		}
	}
	return dropped, lastErr
}

// errCopiesLeft is why an event is not stored when its copy of an id another event holds
// could not be removed: the store refused the delete past its retries.
var errCopiesLeft = errors.New("the store did not remove a copy of an id another event holds")

// attrGuardOf is the attribute of an id guard that names the event holding the id, as
// "<pk>/<sk>" (neither holds a '/': ids exclude it and keys are built from ids and times).
const attrGuardOf = "of"

// registerDays makes sure the day registry lists every day in need with at least the
// given expiry. Each process remembers what it wrote, so a steady stream of events costs
// one registry write per day per hour, not one per request.
func (s *Events) registerDays(ctx context.Context, need map[string]int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.WriteConcurrency)
	s.mu.Lock()
	due := DaysToRegister(s.days, need, s.now())
	s.mu.Unlock()
	for day, target := range due {
		g.Go(func() error {
			if err := s.extendDay(gctx, day, target); err != nil {
				return err
			}
			s.mu.Lock()
			s.days[day] = max(s.days[day], target)
			s.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

const registrySlackSeconds = 3600

func (s *Events) extendDay(ctx context.Context, day string, expires int64) error {
	newer := expression.Name(AttrExpiresAt).LessThan(expression.Value(expires))
	expr, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(AttrExpiresAt), expression.Value(expires))).
		WithCondition(expression.AttributeNotExists(expression.Name(AttrPK)).Or(newer)).
		Build()
	if err != nil {
		return fmt.Errorf("day registry expression: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.opts.Table),
		Key:                       itemKey(DayRegistryPK, day),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	var lost *types.ConditionalCheckFailedException
	if errors.As(err, &lost) {
		return nil // another writer already set a later expiry
	}
	if err != nil {
		return fmt.Errorf("register day %s: %w", day, err)
	}
	return nil
}

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: pk},
		AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func keyString(item map[string]types.AttributeValue) string {
	pk, _ := item[AttrPK].(*types.AttributeValueMemberS)
	sk, _ := item[AttrSK].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil {
		return ""
	}
	return pk.Value + "\x00" + sk.Value
}

func expiresAt(item map[string]types.AttributeValue) int64 {
	n, ok := item[AttrExpiresAt].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}

func without(batch, left []pending) []pending {
	if len(left) == 0 {
		return batch
	}
	gone := make(map[int]bool, len(left))
	for _, p := range left {
		gone[p.index] = true
	}
	var kept []pending
	for _, p := range batch {
		if !gone[p.index] {
			kept = append(kept, p)
		}
	}
	return kept
}
