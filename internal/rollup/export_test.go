package rollup

import (
	"bytes"
	"compress/gzip"
)

// EncodeV2 writes r as rows of encoding version 2 were written, before groups had a
// pipeline part, so tests can hold rows as an older rollup left them.
func EncodeV2(r *Row) ([]byte, error) {
	b := []byte{2}
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
