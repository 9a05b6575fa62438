package rollup

import (
	"bytes"
	"fmt"
	"strings"
)

// EncodeV2 writes r as rows of encoding version 2 were written, before groups had a
// pipeline part, so tests can hold rows as an older rollup left them.
func EncodeV2(r *Row) ([]byte, error) { return r.encode(2) }

// RowCacheLen is how many rows c holds.
func RowCacheLen(c *RowCache) int { return c.cache.EstimatedSize() }

// CheckRowCache reports a row c holds that no longer encodes to the bytes it was decoded
// from: a reader changed a row it was only lent.
func CheckRowCache(c *RowCache) error {
	for key, row := range c.cache.All() {
		_, body, _ := strings.Cut(key, "\x00")
		got, err := row.Encode()
		if err != nil {
			return err
		}
		if !bytes.Equal(got, []byte(body)) {
			return fmt.Errorf("a cached row of %d groups encodes to %d bytes, not the %d it was decoded from", len(row.Groups), len(got), len(body))
		}
	}
	return nil
}
