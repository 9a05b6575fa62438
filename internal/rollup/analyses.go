package rollup

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// KindNewSignature is the kind of AnomalyRecord of an analytics.NewSignature: an error
// signature first seen in the current window. Scope is "signature", the key ends in the
// signature's id.
const KindNewSignature = "new_signature"

// SignatureKinds are the kinds whose error_msg is mined into signatures: the errors of
// jobs, builds and the runtime, and the scheduler's skips. Test results are left out:
// they are most of the volume, seldom carry a message, and their failures are what the
// flaky-test analysis judges.
var SignatureKinds = []string{telemetry.KindJobResult, telemetry.KindBuildResult, telemetry.KindRuntimeError, telemetry.KindJobSkip}

// errEnough stops a raw read once its bound is reached.
var errEnough = errors.New("bound of events read reached")

// eachRaw feeds add the raw events of kinds with ts in [since, until], kind by kind
// (each through the by-kind index), until full says the bound is reached.
func (r *Reader) eachRaw(ctx context.Context, kinds []string, since, until time.Time, full func() bool, add func(*telemetry.Event)) error {
	for _, kind := range kinds {
		if full() {
			return nil
		}
		f := telemetry.Filter{Equals: map[string]string{"kind": kind}, Since: since, Until: until}
		err := r.Events.EachEvent(ctx, f, func(e telemetry.Event) error {
			add(&e)
			if full() {
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return err
		}
	}
	return nil
}

// Signatures mines the error messages of the current window (SignatureKinds, at most
// p.MaxEvents raw events) from prev, the previous snapshot's section, which is the memory
// of the signatures seen before (when each was first and last seen, within p.Keep, at
// most p.MaxKept). It returns the new section and the signatures that are new now.
//
// The memory lives in the snapshot because the snapshot is the one item each run already
// reads and writes: no other item, no other read. It is bounded so the snapshot stays far
// below DynamoDB's 400 KB item limit; forgetting the signatures seen least recently at
// most reports a rare one as new again when it comes back.
func (r *Reader) Signatures(ctx context.Context, p analytics.SignatureParams, prev *analytics.ErrorSignatures, now time.Time) (*analytics.ErrorSignatures, []analytics.NewSignature, error) {
	m := analytics.NewSignatureMiner(p, prev, now)
	if err := r.eachRaw(ctx, SignatureKinds, m.Split(), now, m.Full, m.Add); err != nil {
		return nil, nil, err
	}
	section, news := m.Result()
	return section, news, nil
}

// FlakyTests judges the tests of the flaky window (test results, at most p.MaxEvents raw
// events), or carries prev over when it was computed less than p.Every ago.
func (r *Reader) FlakyTests(ctx context.Context, p analytics.FlakyParams, prev *analytics.FlakyTests, now time.Time) (*analytics.FlakyTests, error) {
	p = p.WithDefaults()
	if prev != nil {
		if at, err := time.Parse(telemetry.TimeLayout, prev.ComputedAt); err == nil && !at.After(now) && now.Sub(at) < p.Every {
			return prev, nil
		}
	}
	a := analytics.NewFlakyAccumulator(p, now)
	if err := r.eachRaw(ctx, []string{telemetry.KindTestResult}, a.Since(), now, a.Full, a.Add); err != nil {
		return nil, err
	}
	return a.Result(), nil
}

// analyses adds to snap the error signatures and flaky tests o asks for, and the new
// signatures to found.
func analyses(ctx context.Context, r *Reader, o SnapshotOptions, prev, snap *Snapshot, found map[string]AnomalyRecord, now time.Time) error {
	if o.Signatures != nil {
		var before *analytics.ErrorSignatures
		if prev != nil {
			before = prev.Signatures
		}
		section, news, err := r.Signatures(ctx, *o.Signatures, before, now)
		if err != nil {
			return err
		}
		snap.Signatures, snap.NewSignatures = section, news
		window := windowName(o.Signatures.WithDefaults().Window)
		for _, row := range news {
			key := strings.Join([]string{row.Scope, window, KindNewSignature, "", "", "", row.ID}, "/")
			found[key] = record(key, KindNewSignature, row.Scope, window, row)
		}
	}
	if o.Flaky != nil {
		var before *analytics.FlakyTests
		if prev != nil {
			before = prev.Flaky
		}
		flaky, err := r.FlakyTests(ctx, *o.Flaky, before, now)
		if err != nil {
			return err
		}
		snap.Flaky = flaky
	}
	return nil
}

// baselineExclusions are the hours the baseline must leave out: those in which a
// baseline anomaly of the group was open (from a window before it opened, as the window
// that found it began then, until it resolved or now). Without them an open anomaly's
// hours slide into the baseline as the window moves on, raise the expected rate and
// close the anomaly while the group is as bad as ever.
func baselineExclusions(prev *Snapshot, window time.Duration, now time.Time) []analytics.Exclusion {
	if prev == nil {
		return nil
	}
	var out []analytics.Exclusion
	add := func(rec AnomalyRecord) {
		if rec.Kind != KindBaseline {
			return
		}
		var row analytics.BaselineAnomaly
		since, err := time.Parse(telemetry.TimeLayout, rec.Since)
		if err != nil || json.Unmarshal(rec.Row, &row) != nil {
			return
		}
		until := now
		if rec.ResolvedAt != nil {
			if t, err := time.Parse(telemetry.TimeLayout, *rec.ResolvedAt); err == nil {
				until = t
			}
		}
		out = append(out, analytics.Exclusion{
			Key:  analytics.HistoryKey{Level: row.Scope, Runtime: row.Runtime, DeviceType: deref(row.DeviceType), DeviceID: deref(row.DeviceID)},
			From: since.Add(-window), To: until,
		})
	}
	for _, rec := range prev.OpenAnomalies {
		add(rec)
	}
	for _, rec := range prev.RecentlyResolved {
		add(rec)
	}
	return out
}
