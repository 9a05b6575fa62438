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
func RowCacheLen(c *RowCache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows.Len()
}

// CheckRowCache reports a row c holds that no longer encodes to the bytes it was decoded
// from (a reader changed a row it was only lent), or a weight that is not the sum of the
// rows held.
func CheckRowCache(c *RowCache) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var weight uint64
	for _, key := range c.rows.Keys() {
		row, _ := c.rows.Peek(key)
		weight += weigh(key)
		_, body, _ := strings.Cut(key, "\x00")
		got, err := row.Encode()
		if err != nil {
			return err
		}
		if !bytes.Equal(got, []byte(body)) {
			return fmt.Errorf("a cached row of %d groups encodes to %d bytes, not the %d it was decoded from", len(row.Groups), len(got), len(body))
		}
	}
	if weight != c.weight {
		return fmt.Errorf("the cache counts %d bytes for rows of %d", c.weight, weight)
	}
	return nil
}

// RowCacheWeight is the memory c counts for the rows it holds.
func RowCacheWeight(c *RowCache) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.weight
}

// DecodeThrough is what readers do with a stored row: decode it through c.
func DecodeThrough(c *RowCache, body []byte) (*Row, error) { return c.decode(body, 0) }
