package rollup

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/pipetel/pipetel/internal/rollup/walk"
	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// Group is the rollup of the events of one bucket and shard that share every dimension:
// their counters and duration sketch, and the newest of them and the newest failed one
// (analytics.Failed; zero when none) for anomalies.
type Group struct {
	Dims          analytics.Dimensions
	Agg           analytics.Aggregate
	Newest        analytics.Newest
	NewestFailure analytics.Newest
	// Pipeline is what GET /pipelines/stats needs of a group of an analytics.PipelineKind;
	// nil for other kinds. PipelineUnknown is set instead when the group was read from,
	// or merged with, a row written before rows recorded it (encoding version 2): such
	// a row cannot answer pipeline stats, and readers read its events instead.
	Pipeline        *analytics.PipelineAggregate
	PipelineUnknown bool
}

// Row is the rollup of one bucket of one shard: a group per distinct Dimensions.
type Row struct {
	Groups     map[analytics.Dimensions]*Group
	MinExpires int64 // earliest expires_at of the events counted; 0 when none
	// MaxExpires is the latest; 0 when none, or unknown (a row stored without it), and a
	// merge with an unknown row is unknown, so it never claims too early that all expired.
	MaxExpires int64
	// order is Groups in sorted order as decoded (encode writes them so); nil once a group
	// is added. Every read of a window visits each row's groups in order, and sorting a row
	// of thousands of groups again on every read cost more than decoding it.
	order []*Group
}

// NewRow returns an empty row.
func NewRow() *Row { return &Row{Groups: map[analytics.Dimensions]*Group{}} }

// Add counts e, which expires at expiresAt (epoch seconds).
func (r *Row) Add(e *telemetry.Event, expiresAt int64) {
	d := analytics.DimensionsOf(e)
	g, ok := r.Groups[d]
	if !ok {
		g = &Group{Dims: d}
		r.Groups[d] = g
		r.order = nil
	}
	g.Agg.Add(e)
	if analytics.PipelineKind(e.Kind) {
		if g.Pipeline == nil {
			g.Pipeline = &analytics.PipelineAggregate{}
		}
		g.Pipeline.Add(e)
	}
	n := analytics.NewestOf(e)
	if n.NewerThan(g.Newest) {
		g.Newest = n
	}
	if analytics.Failed(e) && n.NewerThan(g.NewestFailure) {
		g.NewestFailure = n
	}
	r.MaxExpires = maxExpiry(r.MinExpires, r.MaxExpires, expiresAt, expiresAt)
	r.MinExpires = minExpiry(r.MinExpires, expiresAt)
}

// Merge adds every group of o; o is left unchanged.
func (r *Row) Merge(o *Row) {
	for d, og := range o.Groups {
		g, ok := r.Groups[d]
		if !ok {
			g = &Group{Dims: d}
			r.Groups[d] = g
			r.order = nil
		}
		g.Agg.Merge(&og.Agg)
		g.mergePipeline(og)
		if og.Newest.NewerThan(g.Newest) {
			g.Newest = og.Newest
		}
		if og.NewestFailure.NewerThan(g.NewestFailure) {
			g.NewestFailure = og.NewestFailure
		}
	}
	r.MaxExpires = maxExpiry(r.MinExpires, r.MaxExpires, o.MinExpires, o.MaxExpires)
	r.MinExpires = minExpiry(r.MinExpires, o.MinExpires)
}

func (g *Group) mergePipeline(o *Group) {
	g.PipelineUnknown = g.PipelineUnknown || o.PipelineUnknown
	switch {
	case o.Pipeline == nil:
	case g.Pipeline == nil:
		g.Pipeline = &analytics.PipelineAggregate{}
		g.Pipeline.Merge(o.Pipeline)
	default:
		g.Pipeline.Merge(o.Pipeline)
	}
}

// PipelineKnown reports whether every group of the row that holds pipeline_result or
// job_result events records what GET /pipelines/stats needs of them.
func (r *Row) PipelineKnown() bool {
	for _, g := range r.Groups {
		if g.PipelineUnknown {
			return false
		}
	}
	return true
}

// maxExpiry is the MaxExpires of two rows merged, given each one's Min and MaxExpires: a
// row with a MinExpires counts events, and one of those without a known MaxExpires makes
// the merge's unknown.
func maxExpiry(aMin, aMax, bMin, bMax int64) int64 {
	switch {
	case aMin == 0:
		return bMax
	case bMin == 0:
		return aMax
	case aMax == 0 || bMax == 0:
		return 0
	}
	return max(aMax, bMax)
}

func minExpiry(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// sorted returns the groups in a fixed order, so the same row always encodes to the
// same bytes and reruns rewrite identical items.
func (r *Row) sorted() []*Group {
	if r.order != nil && len(r.order) == len(r.Groups) {
		return r.order
	}
	gs := make([]*Group, 0, len(r.Groups))
	for _, g := range r.Groups {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return lessDims(gs[i].Dims, gs[j].Dims) })
	return gs
}

func dimsFields(d analytics.Dimensions) [9]string {
	return [9]string{d.Runtime, d.DeviceType, d.DeviceID, d.JobName, d.Tree, d.Branch, d.Arch, d.Kind, d.ErrorType}
}

func lessDims(a, b analytics.Dimensions) bool {
	x, y := dimsFields(a), dimsFields(b)
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

// rowEncodingVersion is what Encode writes. Version 2 rows (without the pipeline part)
// are still read: their groups of pipeline kinds read as PipelineUnknown.
const rowEncodingVersion = 3

// The pipeline part of a group in version 3: a tag byte, then for pipelineTagAggregate
// the encoded analytics.PipelineAggregate, length-prefixed.
const (
	pipelineTagNone      = 0 // a group of another kind
	pipelineTagAggregate = 1
	pipelineTagUnknown   = 2 // merged from a version 2 row
)

// Encode writes the row as stored: gzip of a version byte and, per group in sorted
// order, its nine dimensions, the newest event and the newest failed one (each: ts in Unix
// microseconds, 0 for none, id, error type and message), the encoded aggregate, each
// length-prefixed, and the pipeline part.
func (r *Row) Encode() ([]byte, error) { return r.encode(rowEncodingVersion) }

// encode writes the row in encoding version (2 or rowEncodingVersion): version 2 rows,
// written before groups had a pipeline part, end each group at its aggregate.
func (r *Row) encode(version byte) ([]byte, error) {
	b := []byte{version}
	for _, g := range r.sorted() {
		for _, s := range dimsFields(g.Dims) {
			b = appendString(b, s)
		}
		b = appendNewest(b, g.Newest)
		b = appendNewest(b, g.NewestFailure)
		agg, err := g.Agg.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = appendString(b, string(agg))
		switch {
		case version == 2:
		case g.PipelineUnknown:
			b = append(b, pipelineTagUnknown)
		case g.Pipeline != nil:
			enc, err := g.Pipeline.MarshalBinary()
			if err != nil {
				return nil, err
			}
			b = appendString(append(b, pipelineTagAggregate), string(enc))
		default:
			b = append(b, pipelineTagNone)
		}
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func appendNewest(b []byte, n analytics.Newest) []byte {
	var micros int64
	if !n.TS.IsZero() {
		micros = n.TS.UnixMicro()
	}
	b = binary.AppendVarint(b, micros)
	b = appendString(b, n.ID)
	b = appendString(b, n.ErrorType)
	return appendString(b, n.ErrorMsg)
}

func (d *decoder) newest() analytics.Newest {
	var n analytics.Newest
	if micros := d.NextVarint(); micros != 0 {
		n.TS = time.UnixMicro(micros).UTC()
	}
	n.ID, n.ErrorType, n.ErrorMsg = d.NextString(), d.NextString(), d.NextString()
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeRow reads a row written by Encode; minExpires is stored beside the body.
func DecodeRow(body []byte, minExpires int64) (*Row, error) {
	r := NewRow()
	r.MinExpires = minExpires
	if len(body) == 0 {
		return r, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("decode rollup row: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decode rollup row: %w", err)
	}
	if len(b) == 0 || (b[0] != rowEncodingVersion && b[0] != 2) {
		return nil, errors.New("decode rollup row: unknown encoding version")
	}
	version := b[0]
	d := decoder{walk.NewReader(b[1:])}
	inOrder := true
	for d.Len() > 0 && d.Err() == nil {
		var f [9]string
		for i := range f {
			f[i] = d.NextString()
		}
		g := &Group{Dims: analytics.Dimensions{Runtime: f[0], DeviceType: f[1], DeviceID: f[2], JobName: f[3],
			Tree: f[4], Branch: f[5], Arch: f[6], Kind: f[7], ErrorType: f[8]}}
		g.Newest, g.NewestFailure = d.newest(), d.newest()
		agg := d.NextString()
		if d.Err() == nil {
			d.Fail(g.Agg.UnmarshalBinary([]byte(agg)))
		}
		if version == 2 {
			g.PipelineUnknown = analytics.PipelineKind(g.Dims.Kind)
		} else {
			d.pipeline(g)
		}
		if n := len(r.order); n > 0 && !lessDims(r.order[n-1].Dims, g.Dims) {
			inOrder = false // not as encode writes: sorted() sorts
		}
		r.Groups[g.Dims] = g
		r.order = append(r.order, g)
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("decode rollup row: %w", d.Err())
	}
	if !inOrder {
		r.order = nil
	}
	return r, nil
}

// decoder reads a row's groups (walk.Reader: the same reads as counting from rows).
type decoder struct{ *walk.Reader }

func (d *decoder) pipeline(g *Group) {
	tag := d.NextByte()
	if d.Err() != nil {
		return
	}
	switch tag {
	case pipelineTagNone:
	case pipelineTagUnknown:
		g.PipelineUnknown = true
	case pipelineTagAggregate:
		enc := d.NextString()
		if d.Err() == nil {
			g.Pipeline = &analytics.PipelineAggregate{}
			d.Fail(g.Pipeline.UnmarshalBinary([]byte(enc)))
		}
	default:
		d.Fail(fmt.Errorf("unknown pipeline tag %d", tag))
	}
}
