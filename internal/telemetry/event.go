// Package telemetry is pipetel's domain: what an event is, what makes one valid and how a
// query is expressed; the arithmetic over events is in its subpackage analytics. It knows
// nothing of AWS, HTTP or storage so the same rules hold in the Lambdas, the local server
// and the tests.
package telemetry

import (
	"encoding/json"
	"time"
)

// Kinds pipelines are known to send; stats and anomalies give them their meaning. Any
// other string is a kind too (KernelCI's model takes any string), stored and counted.
const (
	KindJobSubmission  = "job_submission"
	KindJobSkip        = "job_skip"
	KindJobResult      = "job_result"
	KindTestResult     = "test_result"
	KindBuildResult    = "build_result"
	KindRuntimeError   = "runtime_error"
	KindRuntimeWarning = "runtime_warning"
)

// Results that stats and anomalies count by name. Any other string is stored and counts
// only in totals, as KernelCI counts it.
const (
	ResultPass       = "pass"
	ResultFail       = "fail"
	ResultSkip       = "skip"
	ResultIncomplete = "incomplete"
	ResultUnknown    = "unknown"
)

// Event is one thing a pipeline reported. Optional string fields are empty when absent.
type Event struct {
	ID           string
	Kind         string
	Runtime      string
	TS           time.Time // UTC, microsecond precision
	DeviceType   string
	DeviceID     string
	JobName      string
	TestName     string
	JobID        string
	NodeID       string
	Tree         string
	Branch       string
	Arch         string
	ErrorType    string
	Result       string
	IsInfraError bool
	ErrorMsg     string
	Retry        int
	Duration     *float64        // seconds; nil when the emitter did not measure it
	Extra        json.RawMessage // a compact JSON object with sorted keys, or nil
	ReceivedAt   time.Time       // when pipetel accepted it; retention counts from here
	// IDGiven is true when the client sent ID: then it alone is the idempotency key, so
	// a resend within retention is a duplicate whatever its ts. Not stored.
	IDGiven bool
	// Truncated names the fields stored shorter than sent (wire names), in field-table
	// order; nil when every value is as sent.
	Truncated []string
}

// TimeLayout is how pipetel writes timestamps: RFC 3339 in UTC with a fixed width, so that
// their byte order is their time order. KernelCI emitters send microseconds, so no finer.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// StringFields are the optional string fields, by their wire name, in wire order. The
// store and the query parameters use the same names, so one table serves all three.
var StringFields = []string{
	"device_type", "device_id", "job_name", "test_name", "job_id", "node_id",
	"tree", "branch", "arch", "error_type", "result", "error_msg",
}

// StringField returns the value of the named field of e: kind, runtime or one of
// StringFields. The second result is false for any other name.
func (e *Event) StringField(name string) (string, bool) {
	p := e.stringFieldPtr(name)
	if p == nil {
		return "", false
	}
	return *p, true
}

func (e *Event) stringFieldPtr(name string) *string {
	switch name {
	case "kind":
		return &e.Kind
	case "runtime":
		return &e.Runtime
	case "device_type":
		return &e.DeviceType
	case "device_id":
		return &e.DeviceID
	case "job_name":
		return &e.JobName
	case "test_name":
		return &e.TestName
	case "job_id":
		return &e.JobID
	case "node_id":
		return &e.NodeID
	case "tree":
		return &e.Tree
	case "branch":
		return &e.Branch
	case "arch":
		return &e.Arch
	case "error_type":
		return &e.ErrorType
	case "result":
		return &e.Result
	case "error_msg":
		return &e.ErrorMsg
	}
	return nil
}

// SetStringField sets the named string field; it reports false for a name that is not one.
func (e *Event) SetStringField(name, value string) bool {
	p := e.stringFieldPtr(name)
	if p == nil {
		return false
	}
	*p = value
	return true
}

// MarshalJSON writes the event as the API returns it: every field present, absent ones as
// null, as KernelCI's model dump does, and ts in UTC with a Z.
func (e Event) MarshalJSON() ([]byte, error) {
	out := struct {
		ID           string          `json:"id"`
		Kind         string          `json:"kind"`
		Runtime      string          `json:"runtime"`
		TS           string          `json:"ts"`
		DeviceType   *string         `json:"device_type"`
		DeviceID     *string         `json:"device_id"`
		JobName      *string         `json:"job_name"`
		TestName     *string         `json:"test_name"`
		JobID        *string         `json:"job_id"`
		NodeID       *string         `json:"node_id"`
		Tree         *string         `json:"tree"`
		Branch       *string         `json:"branch"`
		Arch         *string         `json:"arch"`
		Result       *string         `json:"result"`
		IsInfraError bool            `json:"is_infra_error"`
		ErrorType    *string         `json:"error_type"`
		ErrorMsg     *string         `json:"error_msg"`
		Retry        int             `json:"retry"`
		Duration     *float64        `json:"duration"`
		Extra        json.RawMessage `json:"extra"`
		Truncated    []string        `json:"truncated,omitempty"`
	}{
		ID: e.ID, Kind: e.Kind, Runtime: e.Runtime, TS: FormatTime(e.TS),
		DeviceType: Nullable(e.DeviceType), DeviceID: Nullable(e.DeviceID),
		JobName: Nullable(e.JobName), TestName: Nullable(e.TestName), JobID: Nullable(e.JobID),
		NodeID: Nullable(e.NodeID), Tree: Nullable(e.Tree), Branch: Nullable(e.Branch),
		Arch: Nullable(e.Arch), Result: Nullable(e.Result), IsInfraError: e.IsInfraError,
		ErrorType: Nullable(e.ErrorType), ErrorMsg: Nullable(e.ErrorMsg), Retry: e.Retry,
		Duration: e.Duration, Extra: e.Extra, Truncated: e.Truncated,
	}
	if out.Extra == nil {
		out.Extra = json.RawMessage(`{}`)
	}
	return encodeCompactJSON(out)
}

// Nullable is s as an optional JSON value: null when the field is absent (empty).
func Nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
