package walk

import (
	"encoding/binary"
	"errors"
)

// ErrTruncated is a rollup row's encoding that ends inside a field.
var ErrTruncated = errors.New("truncated")

// Reader reads the fields of a rollup row's encoding (package rollup writes it): strings
// framed by a uvarint length, bytes, uvarints and varints. After the first error every
// read returns the zero value and Err says what went wrong, so a decoder checks once.
// Counting here and decoding in package rollup read the same bytes through it.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Len is how many bytes are left.
func (r *Reader) Len() int { return len(r.b) }

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records err unless an error was met before.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// NextString reads a uvarint length and that many bytes.
func (r *Reader) NextString() string {
	n := r.NextUvarint()
	if r.err != nil {
		return ""
	}
	if uint64(len(r.b)) < n {
		r.err = ErrTruncated
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// NextByte reads one byte.
func (r *Reader) NextByte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = ErrTruncated
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// NextUvarint reads an unsigned varint (encoding/binary's).
func (r *Reader) NextUvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, size := binary.Uvarint(r.b)
	if size <= 0 {
		r.err = ErrTruncated
		return 0
	}
	r.b = r.b[size:]
	return v
}

// NextVarint reads a signed varint (encoding/binary's).
func (r *Reader) NextVarint() int64 {
	if r.err != nil {
		return 0
	}
	v, size := binary.Varint(r.b)
	if size <= 0 {
		r.err = ErrTruncated
		return 0
	}
	r.b = r.b[size:]
	return v
}
