package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/telemetry"
)

type ingestResponse struct {
	Inserted   int      `json:"inserted"`
	Duplicates int      `json:"duplicates"`
	Rejected   *int     `json:"rejected,omitempty"` // partial mode only
	IDs        []string `json:"ids"`
	// Warnings say what was stored other than as sent (truncated, kept in extra, ts too far
	// ahead); the events were stored all the same.
	Warnings      []telemetry.FieldError `json:"warnings,omitempty"`
	UnknownFields []unknownFields        `json:"unknown_fields,omitempty"`
	Results       []eventResult          `json:"results,omitempty"` // partial mode only
}

// unknownFields names the fields of one event that pipetel does not know and kept under
// extra, so a client learns of a typo instead of losing the value silently.
type unknownFields struct {
	Index  int      `json:"index"`
	Fields []string `json:"fields"`
}

type eventResult struct {
	Index  int                    `json:"index"`
	Status string                 `json:"status"` // inserted, duplicate, invalid, not_stored or not_counted
	ID     string                 `json:"id,omitempty"`
	Errors []telemetry.FieldError `json:"errors,omitempty"`
}

// notStoredBody answers an ingest the store could not finish: the error shape, what did
// get stored, and exactly which events to resend.
type notStoredBody struct {
	errorBody
	Inserted   int        `json:"inserted"`
	Duplicates int        `json:"duplicates"`
	NotStored  []eventRef `json:"not_stored"`
	// NotCounted are stored, but the rollups could not be told, so stats and anomalies
	// miss them until they are resent.
	NotCounted []eventRef    `json:"not_counted,omitempty"`
	Rejected   *int          `json:"rejected,omitempty"` // partial mode only
	Results    []eventResult `json:"results,omitempty"`  // partial mode only
}

type eventRef struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
}

// NewIngest serves POST /telemetry.
func NewIngest(d Deps) Handler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return Serve(ctx, d, "ingest", req, func(ctx context.Context, log *slog.Logger) (events.APIGatewayV2HTTPResponse, error) {
			return ingest(ctx, d, log, req)
		})
	}
}

func ingest(ctx context.Context, d Deps, log *slog.Logger, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	q := NewParams(req)
	partial := q.bool("partial")
	if err := q.Check([]string{"partial"}); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	raw, err := body(req)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	now := d.Now().UTC()
	decoded, err := telemetry.DecodeBatch(raw, now)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}

	// Nothing below reads decoded after this loop, which lets the collector free it (and
	// every invalid event) while the valid ones are stored: for the largest batch it is
	// as large as the body.
	total := len(decoded)
	var (
		invalid   []telemetry.FieldError
		results   = make([]eventResult, total)
		valid     = make([]telemetry.Event, 0, total)
		validAt   = make([]int, 0, total) // index in decoded of each valid event
		resp      ingestResponse
		badEvents int
	)
	for i, dec := range decoded {
		results[i].Index = i
		if len(dec.Errors) > 0 {
			invalid = append(invalid, dec.Errors...)
			results[i].Status, results[i].Errors = "invalid", dec.Errors
			badEvents++
			continue
		}
		valid = append(valid, dec.Event) // DecodeBatch stamped ReceivedAt with now
		resp.Warnings = append(resp.Warnings, dec.Warnings...)
		validAt = append(validAt, i)
		results[i].ID = dec.Event.ID
		if len(dec.UnknownFields) > 0 {
			resp.UnknownFields = append(resp.UnknownFields, unknownFields{Index: i, Fields: dec.UnknownFields})
		}
	}
	isPartial := partial != nil && *partial
	if badEvents > 0 && !isPartial {
		return events.APIGatewayV2HTTPResponse{}, &telemetry.Error{Code: telemetry.CodeInvalid, Fields: invalid,
			Message: invalidBatchDetail(invalid, badEvents, total)}
	}

	var outcomes []telemetry.PutOutcome
	if len(valid) > 0 {
		outcomes, err = d.Events.PutEvents(ctx, valid)
		if err != nil {
			log.Error("store events", "error", err.Error())
		}
	}
	var notStored, notCounted []eventRef
	resp.IDs = make([]string, 0, len(valid))
	for j, outcome := range outcomes {
		i := validAt[j]
		switch outcome {
		case telemetry.Inserted:
			resp.Inserted++
			results[i].Status = "inserted"
		case telemetry.Duplicate:
			resp.Duplicates++
			results[i].Status = "duplicate"
		case telemetry.Unmarked:
			results[i].Status = "not_counted"
			notCounted = append(notCounted, eventRef{Index: i, ID: valid[j].ID})
		default:
			results[i].Status = "not_stored"
			notStored = append(notStored, eventRef{Index: i, ID: valid[j].ID})
		}
		resp.IDs = append(resp.IDs, valid[j].ID)
	}
	log.Info("ingest", "events", total, "inserted", resp.Inserted, "duplicates", resp.Duplicates,
		"invalid", badEvents, "not_stored", len(notStored), "not_counted", len(notCounted))

	if len(notStored)+len(notCounted) > 0 {
		return notStoredResponse(ctx, req, err, resp, notStored, notCounted, total, isPartial, badEvents, results), nil
	}
	if isPartial {
		resp.Rejected = &badEvents
		resp.Results = results
	}
	return JSON(http.StatusOK, resp), nil
}

// notStoredDetail says, as one sentence without its final stop, what of a batch of total
// events was not stored and what stored was not marked for the rollups, because why, and
// which lists to resend.
func notStoredDetail(notStored, notCounted, total int, why string) string {
	unmarked := func(n int) string {
		them := "them"
		if n == 1 {
			them = "it"
		}
		return fmt.Sprintf("%s stored could not be marked for the rollups (stats from rollups miss %s until resent)", eventCount(n), them)
	}
	var what, lists string
	switch {
	case notCounted == 0:
		what = fmt.Sprintf("%d of %s could not be stored because %s", notStored, eventCount(total), why)
		lists = "the events listed in not_stored"
	case notStored == 0:
		what = fmt.Sprintf("Every event was stored, but %s, because %s", unmarked(notCounted), why)
		lists = "the events listed in not_counted"
	default:
		what = fmt.Sprintf("%d of %s could not be stored, and %s, because %s", notStored, eventCount(total), unmarked(notCounted), why)
		lists = "the events listed in not_stored and not_counted"
	}
	return what + "; resend " + lists
}

// eventCount is "1 event" or "n events".
func eventCount(n int) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}

// notStoredResponse is 503 with Retry-After when the store shed load, was too slow or was
// unreachable, and 500 for a fault of ours; either way it names the events to resend:
// notStored were not stored, notCounted were stored but not marked for the rollups.
func notStoredResponse(ctx context.Context, req events.APIGatewayV2HTTPRequest, cause error, stored ingestResponse,
	notStored, notCounted []eventRef, total int, partial bool, rejected int, results []eventResult) events.APIGatewayV2HTTPResponse {
	// The ingest contract answers a batch the store could not finish with 503, whether the
	// store shed load, was slow or could not be reached; the sentence says which, since an
	// operator acts differently on each (raise capacity, send smaller batches, or look at
	// the store's health).
	code := telemetry.ErrorCode(cause)
	why := "the store could not be reached"
	switch {
	case code == telemetry.CodeThrottled:
		code = telemetry.CodeUnavailable
		why = "the store is throttling writes (more than it can take right now)"
	case errors.Is(cause, context.DeadlineExceeded) && !unreachable(cause):
		code = telemetry.CodeUnavailable
		why = "the store was too slow to take them before the request's deadline (send smaller batches, or retry when it is less busy)"
	}
	detail := notStoredDetail(len(notStored), len(notCounted), total, why) +
		" after the pause in Retry-After (resending the whole batch is also safe)."
	if code != telemetry.CodeUnavailable {
		code = telemetry.CodeInternal
		detail = notStoredDetail(len(notStored), len(notCounted), total, "of a fault on our side") +
			", and quote the request id if it persists."
	}
	if notStored == nil {
		notStored = []eventRef{}
	}
	body := notStoredBody{
		errorBody: errorBody{Detail: detail, RequestID: requestID(ctx, req)},
		Inserted:  stored.Inserted, Duplicates: stored.Duplicates, NotStored: notStored, NotCounted: notCounted,
	}
	if partial {
		body.Rejected, body.Results = &rejected, results
	}
	resp := JSON(statusOf(code), body)
	if code != telemetry.CodeInternal {
		retryAfter := 2 * time.Second
		var te *telemetry.Error
		if errors.As(cause, &te) && te.RetryAfter > 0 {
			retryAfter = te.RetryAfter
		}
		setRetryAfter(resp, retryAfter)
	}
	return resp
}

// unreachable reports whether err says a connection to the store failed (refused, reset,
// no route), as opposed to a store that answered too slowly.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// detailProblems is how many problems the detail of a refused batch names itself.
// KernelCI's client logs only detail, so the first few must be readable there; errors
// lists them all.
const detailProblems = 3

// invalidBatchDetail is "2 of 50 events are invalid, so none was stored: event 9: runtime
// is required; ...; fix them ...".
func invalidBatchDetail(problems []telemetry.FieldError, bad, total int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d events are invalid, so none was stored: ", bad, total)
	for i, p := range problems[:min(detailProblems, len(problems))] {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "event %d: ", p.Index)
		if p.Field != "" {
			b.WriteString(p.Field + " ")
		}
		b.WriteString(p.Message)
	}
	if more := len(problems) - detailProblems; more > 0 {
		fmt.Fprintf(&b, "; and %d more problems listed in errors", more)
	}
	b.WriteString(". Fix them and resend, or add ?partial=true to store the valid ones.")
	return b.String()
}
