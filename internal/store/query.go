package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// plan is where a query reads: an index (or the table) and the partition key values to
// visit. Groups hold disjoint time ranges, newest first, and are visited in the page's
// order; the partitions of one group are read in parallel and merged by sort key.
type plan struct {
	index  string // empty for the table itself
	pkAttr string
	groups [][]string
	// covered is the filter field the partition key already pins, left out of the filter
	// expression.
	covered string
}

// bounds limit the sort key. An exclusive bound is a cursor: the page resumes after it
// (below it newest first, above it oldest first).
type bounds struct {
	lower, upper   string
	upperExclusive bool
	lowerExclusive bool
}

func (b bounds) empty() bool { return b.lower != "" && b.upper != "" && b.lower > b.upper }

// planFor picks the most selective path: is_infra_error=true reads the sparse
// by_infra_error index, which holds those events alone; else a runtime pins the
// by_runtime index, else a kind pins by_kind, else the query reads the day buckets the
// registry lists within its range.
func (s *Events) planFor(ctx context.Context, f telemetry.Filter, b bounds) (plan, error) {
	if f.IsInfraError != nil && *f.IsInfraError {
		return plan{index: IndexByInfraError, pkAttr: AttrInfraKey, covered: "is_infra_error",
			groups: [][]string{shardKeys(infraValue, s.keys.kindShards)}}, nil
	}
	if runtime, ok := f.Value("runtime"); ok {
		return plan{index: IndexByRuntime, pkAttr: AttrRuntimeKey, covered: "runtime",
			groups: [][]string{shardKeys(runtime, s.keys.runtimeShards)}}, nil
	}
	if kind, ok := f.Value("kind"); ok {
		return plan{index: IndexByKind, pkAttr: AttrKindKey, covered: "kind",
			groups: [][]string{shardKeys(kind, s.keys.kindShards)}}, nil
	}
	days, err := s.listDays(ctx, b)
	if err != nil {
		return plan{}, err
	}
	p := plan{pkAttr: AttrPK}
	for _, day := range days {
		parts := make([]string, s.keys.eventShards)
		for i := range parts {
			parts[i] = dayPartition(day, i)
		}
		p.groups = append(p.groups, parts)
	}
	return p, nil
}

func shardKeys(value string, shards int) []string {
	keys := make([]string, shards)
	for i := range keys {
		keys[i] = shardKey(value, i)
	}
	return keys
}

// listDays returns the registered, unexpired day buckets that can hold sort keys within
// b, newest first.
func (s *Events) listDays(ctx context.Context, b bounds) ([]string, error) {
	registry := plan{pkAttr: AttrPK}
	in, err := s.queryInput(registry, DayRegistryPK, bounds{lower: dayOfSK(b.lower), upper: dayOfSK(b.upper)}, s.unexpired())
	if err != nil {
		return nil, fmt.Errorf("day registry: %w", err)
	}
	var days []string
	pages := dynamodb.NewQueryPaginator(s.db, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list day buckets: %w", err)
		}
		for _, item := range out.Items {
			if sk, ok := item[AttrSK].(*types.AttributeValueMemberS); ok {
				days = append(days, sk.Value)
			}
		}
	}
	return days, nil
}

// dayOfSK is the day bucket (yyyymmdd) of a sort key or of a bound made from a time.
func dayOfSK(sk string) string {
	if len(sk) < 10 {
		return ""
	}
	return sk[0:4] + sk[5:7] + sk[8:10]
}

func (s *Events) unexpired() expression.ConditionBuilder {
	return expression.Name(AttrExpiresAt).GreaterThan(expression.Value(s.now().Unix()))
}

func (s *Events) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// filterExpr is f as a DynamoDB filter, values always as expression values, plus the
// expiry check: TTL deletes lazily, so expired items can linger for days.
func (s *Events) filterExpr(f telemetry.Filter, covered string) expression.ConditionBuilder {
	cond := s.unexpired()
	for _, field := range telemetry.FilterFields {
		v, ok := f.Value(field)
		switch {
		case !ok || field == covered:
		case v == "":
			// An absent field is stored without its attribute (kind and runtime as ""),
			// and reads back as "": either matches a filter on the empty string.
			cond = cond.And(expression.AttributeNotExists(expression.Name(field)).
				Or(expression.Name(field).Equal(expression.Value(v))))
		default:
			cond = cond.And(expression.Name(field).Equal(expression.Value(v)))
		}
	}
	if f.IsInfraError != nil && covered != "is_infra_error" {
		cond = cond.And(expression.Name("is_infra_error").Equal(expression.Value(*f.IsInfraError)))
	}
	if f.Retry != nil {
		cond = cond.And(expression.Name("retry").Equal(expression.Value(*f.Retry)))
	}
	return cond
}

// hasResidualFilter reports whether f filters beyond what the partition key covers.
func hasResidualFilter(f telemetry.Filter, covered string) bool {
	for field := range f.Equals {
		if field != covered {
			return true
		}
	}
	return (f.IsInfraError != nil && covered != "is_infra_error") || f.Retry != nil
}

func (s *Events) queryInput(p plan, pk string, b bounds, filter expression.ConditionBuilder) (*dynamodb.QueryInput, error) {
	keyCond := expression.Key(p.pkAttr).Equal(expression.Value(pk))
	sk := expression.Key(AttrSK)
	switch {
	case b.lower != "" && b.upper != "":
		keyCond = keyCond.And(sk.Between(expression.Value(b.lower), expression.Value(b.upper)))
	case b.lower != "" && b.lowerExclusive:
		keyCond = keyCond.And(sk.GreaterThan(expression.Value(b.lower)))
	case b.lower != "":
		keyCond = keyCond.And(sk.GreaterThanEqual(expression.Value(b.lower)))
	case b.upper != "" && b.upperExclusive:
		keyCond = keyCond.And(sk.LessThan(expression.Value(b.upper)))
	case b.upper != "":
		keyCond = keyCond.And(sk.LessThanEqual(expression.Value(b.upper)))
	}
	expr, err := expression.NewBuilder().WithKeyCondition(keyCond).WithFilter(filter).Build()
	if err != nil {
		return nil, fmt.Errorf("query expression: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.Table),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ScanIndexForward:          aws.Bool(false),
	}
	if p.index != "" {
		in.IndexName = aws.String(p.index)
	}
	return in, nil
}

func boundsOf(f telemetry.Filter) bounds {
	var b bounds
	if !f.Since.IsZero() {
		b.lower = skLowerInclusive(f.Since)
	}
	if !f.Until.IsZero() {
		b.upper = skUpperInclusive(f.Until)
	}
	return b
}

// QueryEvents returns one page of matching events, oldest first (by ts, then id), or
// newest first when req.Desc is set.
func (s *Events) QueryEvents(ctx context.Context, f telemetry.Filter, req telemetry.PageRequest) (telemetry.Page, error) {
	b := boundsOf(f)
	var resumed *cursor
	if req.Cursor != "" {
		c, err := s.decodeCursor(req.Cursor, f)
		if err != nil {
			return telemetry.Page{}, err
		}
		if c.Desc != req.Desc {
			return telemetry.Page{}, errCursorOrder
		}
		resumed = &c
		switch {
		case req.Desc && (b.upper == "" || c.SK < b.upper):
			b.upper, b.upperExclusive = c.SK, true
		case !req.Desc && (b.lower == "" || c.SK >= b.lower):
			b.lower, b.lowerExclusive = c.SK, true
		}
	}
	page := telemetry.Page{}
	if b.empty() {
		return page, nil
	}
	p, err := s.planFor(ctx, f, b)
	if err != nil {
		return page, clientError(err)
	}
	if !req.Desc {
		slices.Reverse(p.groups)
	}
	filter := s.filterExpr(f, p.covered)

	g, gctx := errgroup.WithContext(ctx)
	// The count runs beside the page, and stops when the page has read every match: a
	// first page that is not full holds the whole total, exactly, so a sparse query (one
	// runtime, one failing test) does not pay for its count.
	countCtx, stopCount := context.WithCancel(gctx)
	defer stopCount()
	var counted, read int
	exact := true
	whole := false // the page read every match
	if resumed != nil {
		// The total was counted once, on the first page; counting again on every page
		// would make cursor paging quadratic.
		counted, exact = resumed.Total, !resumed.Inexact
	} else {
		g.Go(func() error {
			var err error
			counted, read, exact, err = s.countTotal(countCtx, f, p, filter)
			if err != nil && countCtx.Err() != nil && gctx.Err() == nil {
				return nil // stopped: the page counted every match
			}
			return err
		})
	}
	need := req.Offset + req.Limit + 1
	var found []found
	var readItems int
	selective := hasResidualFilter(f, p.covered)
	g.Go(func() error {
		for _, group := range p.groups {
			got, n, err := s.merged(gctx, p, group, b, filter, need-len(found), selective, req.Desc)
			readItems += n
			if err != nil {
				return err
			}
			found = append(found, got...)
			if len(found) >= need {
				return nil
			}
		}
		if resumed == nil {
			whole = true
			stopCount()
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return telemetry.Page{}, clientError(err)
	}
	if whole {
		counted, exact = len(found), true
	}
	page.Total, page.TotalExact = counted, exact
	page.ItemsRead = read + readItems
	end := min(req.Offset+req.Limit, len(found))
	for i := min(req.Offset, end); i < end; i++ {
		page.Items = append(page.Items, found[i].event)
	}
	if len(found) > req.Offset+req.Limit && len(page.Items) > 0 {
		page.Next = s.encodeCursor(cursor{SK: found[end-1].sk, Total: counted, Inexact: !exact, Desc: req.Desc}, f)
	}
	// A page too large to answer whole ends early; its last item's cursor continues it.
	first := min(req.Offset, end)
	page.CursorAfter = func(i int) string {
		return s.encodeCursor(cursor{SK: found[first+i].sk, Total: counted, Inexact: !exact, Desc: req.Desc}, f)
	}
	return page, nil
}

type found struct {
	event telemetry.Event
	sk    string
}

// stream reads one partition in the page's order, a page at a time, on demand.
type stream struct {
	in    *dynamodb.QueryInput
	items []found
	done  bool
	skip  string // the cursor's own item, which BETWEEN includes
}

func (s *Events) fill(ctx context.Context, st *stream) (int, error) {
	out, err := s.db.Query(ctx, st.in)
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", aws.ToString(st.in.IndexName), err)
	}
	for _, av := range out.Items {
		e, sk, err := decodeEvent(av)
		if err != nil {
			return 0, err
		}
		if sk != st.skip {
			st.items = append(st.items, found{event: e, sk: sk})
		}
	}
	if out.LastEvaluatedKey == nil {
		st.done = true
	} else {
		st.in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return int(out.ScannedCount), nil
}

// merged merges the partitions of one group and returns up to need events, newest first
// when desc is set, else oldest first, and how many items it read.
//
// Each partition's first read asks for firstRead(need, partitions) items, its share and
// a margin; a partition that runs dry while the merge still needs it is read again.
// Asking each for all of need would read shards-times what the page returns. A selective
// filter discards most of what it reads, so then pages are as large as DynamoDB allows.
func (s *Events) merged(ctx context.Context, p plan, partitions []string, b bounds, filter expression.ConditionBuilder, need int, selective, desc bool) ([]found, int, error) {
	perCall := firstRead(need, len(partitions))
	if selective {
		perCall = 1000
	}
	streams := make([]*stream, len(partitions))
	for i, pk := range partitions {
		in, err := s.queryInput(p, pk, b, filter)
		if err != nil {
			return nil, 0, err
		}
		in.Limit = aws.Int32(perCall)
		in.ScanIndexForward = aws.Bool(!desc)
		streams[i] = &stream{in: in}
		switch {
		case b.upperExclusive && b.lower != "":
			streams[i].skip = b.upper
		case b.lowerExclusive && b.upper != "":
			streams[i].skip = b.lower
		}
	}
	var out []found
	read := 0
	for len(out) < need {
		var hungry []*stream
		for _, st := range streams {
			if len(st.items) == 0 && !st.done {
				hungry = append(hungry, st)
			}
		}
		if len(hungry) > 0 {
			n, err := s.fillAll(ctx, hungry)
			read += n
			if err != nil {
				return nil, read, err
			}
			continue
		}
		var best *stream
		for _, st := range streams {
			if len(st.items) > 0 && (best == nil || (st.items[0].sk > best.items[0].sk) == desc) {
				best = st
			}
		}
		if best == nil {
			break
		}
		out = append(out, best.items[0])
		best.items = best.items[1:]
	}
	return out, read, nil
}

// firstRead is how many items each of n partitions is first asked for when a page needs
// need events from their merge. Ids hash evenly over shards, so a partition's count among
// the page's events is about Poisson with mean share = need/n. The share and three standard
// deviations, rounded up, run a partition dry with probability ~0.6%: at KernelCI's 50 a
// page over the default 32 shards, 6 items each, 192 read, and one page in six reads one
// partition again. A floor of 10 read 320; asking each for all of need, n-fold the page.
func firstRead(need, n int) int32 {
	share := float64(need) / float64(max(n, 1))
	return int32(min(max(math.Ceil(share+3*math.Sqrt(share)), 2), 1000))
}

func (s *Events) fillAll(ctx context.Context, streams []*stream) (int, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.ReadConcurrency)
	var mu sync.Mutex
	read := 0
	for _, st := range streams {
		g.Go(func() error {
			n, err := s.fill(gctx, st)
			mu.Lock()
			read += n
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	return read, err
}

// countTotal is the number of events matching f (read through p with filter), the items
// read to count them, and whether the count is exact: from rollups when a counter is set
// and can count f, else from raw events. A query without since counts from the oldest day
// the registry lists, as no retained event is older.
func (s *Events) countTotal(ctx context.Context, f telemetry.Filter, p plan, filter expression.ConditionBuilder) (total, read int, exact bool, err error) {
	if s.opts.Totals != nil {
		cf := f
		if cf.Since.IsZero() {
			days, err := s.listDays(ctx, bounds{})
			if err != nil {
				return 0, 0, false, err
			}
			read = len(days)
			if len(days) == 0 {
				return 0, read, true, nil
			}
			oldest, err := time.Parse("20060102", days[len(days)-1])
			if err != nil {
				return 0, read, false, fmt.Errorf("day registry entry %q: %w", days[len(days)-1], err)
			}
			cf.Since = oldest
		}
		t, ok, err := s.opts.Totals.CountEvents(ctx, cf, s.rawCount)
		if ok || err != nil {
			return t.N, read + t.ItemsRead, t.Exact, err
		}
	}
	total, n, exact, err := s.count(ctx, p, boundsOf(f), filter)
	return total, read + n, exact, err
}

// rawCount is telemetry.RawCount over the events table.
func (s *Events) rawCount(ctx context.Context, f telemetry.Filter) (telemetry.Total, error) {
	b := boundsOf(f)
	if b.empty() {
		return telemetry.Total{Exact: true}, nil
	}
	p, err := s.planFor(ctx, f, b)
	if err != nil {
		return telemetry.Total{}, err
	}
	n, read, exact, err := s.count(ctx, p, b, s.filterExpr(f, p.covered))
	return telemetry.Total{N: n, ItemsRead: read, Exact: exact}, err
}

// count is the number of events matching the query across all its partitions, and the
// items read to count them. It reads at most CountLimit items, so that a broad query
// costs a bounded amount however much the table holds; exact then reports false and the
// count is a lower bound.
//
// Partitions are read in parallel, so each page first takes its Limit out of a shared
// budget and gives back what it did not read: checking a running total between pages
// would let every partition in flight overshoot at once.
func (s *Events) count(ctx context.Context, p plan, b bounds, filter expression.ConditionBuilder) (total, read int, exact bool, err error) {
	partitions := 0
	for _, group := range p.groups {
		partitions += len(group)
	}
	perPage := max(s.opts.CountLimit/max(partitions, 1), 100)
	budget := newReadBudget(s.opts.CountLimit)
	var mu sync.Mutex
	err = s.eachPartition(ctx, p, b, filter, func(ctx context.Context, in *dynamodb.QueryInput) error {
		in.Select = types.SelectCount
		for {
			n := budget.take(perPage)
			if n == 0 {
				return nil
			}
			in.Limit = aws.Int32(int32(n))
			out, err := s.db.Query(ctx, in)
			if err != nil {
				budget.giveBack(n, 0)
				return fmt.Errorf("count: %w", err)
			}
			budget.giveBack(n, int(out.ScannedCount))
			mu.Lock()
			total += int(out.Count)
			read += int(out.ScannedCount)
			mu.Unlock()
			if out.LastEvaluatedKey == nil {
				return nil
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	})
	return total, read, !budget.exhausted(), err
}

// readBudget shares a bound on items read among partitions read in parallel.
type readBudget struct {
	mu       sync.Mutex
	changed  *sync.Cond
	left     int
	inFlight int  // pages taken and not yet given back
	short    bool // a partition had more to read when the budget ran out
}

func newReadBudget(limit int) *readBudget {
	b := &readBudget{left: limit}
	b.changed = sync.NewCond(&b.mu)
	return b
}

// take reserves up to want items for one page and returns how many; 0 means the budget is
// spent and the caller's partition stays unread past this point. While other pages are
// in flight it waits for them rather than give up: they may give back what they did not
// read.
func (b *readBudget) take(want int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.left == 0 && b.inFlight > 0 {
		b.changed.Wait()
	}
	n := min(want, b.left)
	if n == 0 {
		b.short = true
		return 0
	}
	b.left -= n
	b.inFlight++
	return n
}

// giveBack ends a page that reserved n items and read used of them.
func (b *readBudget) giveBack(n, used int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left += n - min(used, n)
	b.inFlight--
	b.changed.Broadcast()
}

func (b *readBudget) exhausted() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.short
}

// eachPartition runs fn for the query input of every partition of p, in parallel.
func (s *Events) eachPartition(ctx context.Context, p plan, b bounds, filter expression.ConditionBuilder, fn func(context.Context, *dynamodb.QueryInput) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.ReadConcurrency)
	for _, group := range p.groups {
		for _, pk := range group {
			in, err := s.queryInput(p, pk, b, filter)
			if err != nil {
				return err
			}
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err // another partition failed; reading on only adds load
				}
				return fn(gctx, in)
			})
		}
	}
	return g.Wait()
}

// EachEvent calls fn for every retained event matching f.
func (s *Events) EachEvent(ctx context.Context, f telemetry.Filter, fn func(telemetry.Event) error) error {
	b := boundsOf(f)
	if b.empty() {
		return nil
	}
	p, err := s.planFor(ctx, f, b)
	if err != nil {
		return clientError(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		failed error // once fn fails it is not called again, even by partitions already reading
	)
	err = s.eachPartition(ctx, p, b, s.filterExpr(f, p.covered), func(ctx context.Context, in *dynamodb.QueryInput) error {
		pages := dynamodb.NewQueryPaginator(s.db, in)
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("read events: %w", err)
			}
			for _, av := range out.Items {
				e, _, err := decodeEvent(av)
				if err != nil {
					return err
				}
				mu.Lock()
				if failed == nil {
					failed = fn(e)
				}
				err = failed
				mu.Unlock()
				if err != nil {
					cancel()
					return err
				}
			}
		}
		return nil
	})
	if failed != nil {
		return failed
	}
	return clientError(err)
}
