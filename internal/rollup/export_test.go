package rollup

// EncodeV2 writes r as rows of encoding version 2 were written, before groups had a
// pipeline part, so tests can hold rows as an older rollup left them.
func EncodeV2(r *Row) ([]byte, error) { return r.encode(2) }
