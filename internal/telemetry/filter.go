package telemetry

import (
	"time"
)

// FilterFields are the string fields a query can match exactly, by wire name.
var FilterFields = []string{
	"kind", "runtime", "device_type", "device_id", "job_name", "test_name", "job_id",
	"node_id", "tree", "branch", "arch", "result", "error_type",
}

// Filter selects events. The zero Filter selects every retained event.
type Filter struct {
	Equals       map[string]string // wire field name (one of FilterFields) → exact value
	IsInfraError *bool
	Retry        *int
	Since        time.Time // inclusive; zero means no lower bound
	Until        time.Time // inclusive; zero means no upper bound
	// SinceGiven: the client sent a since. A since of 0001-01-01T00:00:00Z, the earliest
	// time an event can have, is the zero time, so only this tells it from no since: the
	// first asks for all there is, rollups included, the second for the raw events.
	SinceGiven bool
}

// Value returns the exact value the filter requires of field, if any.
func (f Filter) Value(field string) (string, bool) {
	v, ok := f.Equals[field]
	return v, ok
}

// Matches reports whether e passes every condition of f. The store applies the same
// conditions as DynamoDB expressions; this is the reference they are tested against.
func (f Filter) Matches(e *Event) bool {
	for field, want := range f.Equals {
		got, _ := e.StringField(field)
		if got != want {
			return false
		}
	}
	if f.IsInfraError != nil && e.IsInfraError != *f.IsInfraError {
		return false
	}
	if f.Retry != nil && e.Retry != *f.Retry {
		return false
	}
	if !f.Since.IsZero() && e.TS.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && e.TS.After(f.Until) {
		return false
	}
	return true
}
