package telemetry

import "context"

// PutOutcome is what became of one event handed to EventStore.PutEvents.
type PutOutcome int

const (
	NotStored PutOutcome = iota // the store could not take it; resending is safe
	Inserted                    // stored now
	Duplicate                   // already stored by an earlier request (or earlier in this one)
	// Unmarked: stored (new or not), but the rollups could not be told its time bucket
	// changed, so stats and anomalies from rollups miss it until it is resent (a resend
	// marks it, as ingest marks duplicates too).
	Unmarked
)

// PageRequest asks for one page of a query, oldest first (by ts, then id) as KernelCI
// returns events in insertion order, so that an offset loop is not shifted by events
// posted while it pages; Desc asks for newest first. Cursor, when set, continues after the
// last event of the page that returned it (in the same order); Offset skips events, as
// KernelCI does.
type PageRequest struct {
	Limit  int
	Offset int
	Cursor string
	Desc   bool
}

// Page is one page of a query. Next is empty on the last page.
type Page struct {
	Items      []Event
	Total      int  // events matching the filter, across all pages
	TotalExact bool // false when counting stopped early and Total is a lower bound
	Next       string
	ItemsRead  int // items the store examined to build the page, for logs and benchmarks
	// CursorAfter is the cursor that continues after Items[i], for a page that has to end
	// early (a response must fit Lambda's payload limit); nil when Items is empty.
	CursorAfter func(i int) string
}

// EventStore keeps events. Implementations must never lose an event they reported as
// Inserted or Duplicate.
type EventStore interface {
	// PutEvents stores events, each with its ID set, and reports one outcome per event in
	// the order given. An error explains the NotStored outcomes; it does not mean nothing
	// was stored.
	PutEvents(ctx context.Context, events []Event) ([]PutOutcome, error)
	// Stored reports, for each of events (with its ID and TS set), whether an unexpired
	// event with its key is already stored, reading keys only. It writes nothing.
	Stored(ctx context.Context, events []Event) ([]bool, error)
	// RunStored reports whether the pipeline run whose pipeline_result event is run (its
	// ID derived from (project, pipeline_id) alone) is marked stored and unexpired, reading
	// keys only. It writes nothing.
	RunStored(ctx context.Context, run Event) (bool, error)
	// MarkRunStored marks that run stored, for as long as its events are kept. It reports
	// false, changing nothing, when the run is already marked.
	MarkRunStored(ctx context.Context, run Event) (bool, error)
	// QueryEvents returns one page of the events matching f in the order page asks. An
	// invalid cursor is an *Error with CodeInvalid.
	QueryEvents(ctx context.Context, f Filter, page PageRequest) (Page, error)
	// EachEvent calls fn for every retained event matching f, in no particular order, one
	// call at a time. It stops at the first error fn returns and returns that error.
	EachEvent(ctx context.Context, f Filter, fn func(Event) error) error
}

// Total is a count of the events matching a filter.
type Total struct {
	N         int
	Exact     bool // false when counting stopped early and N is a lower bound
	ItemsRead int  // items read to count them
}

// RawCount counts the retained events matching f by reading the events table.
type RawCount func(ctx context.Context, f Filter) (Total, error)

// TotalCounter counts the events matching a filter without reading each of them: the
// query's total from rollups (package walk's Counter).
type TotalCounter interface {
	// CountEvents counts the retained events matching f, whose Since is set, exactly as a
	// raw count would, reading raw events through raw where it must. ok is false, with
	// nothing read, when f is not one it can count; the caller then counts raw events.
	CountEvents(ctx context.Context, f Filter, raw RawCount) (t Total, ok bool, err error)
}
