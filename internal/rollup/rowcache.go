package rollup

import (
	"strconv"

	"github.com/maypok86/otter/v2"
)

// decodedPerStoredByte estimates the memory of a decoded row per byte of its stored body,
// on the high side: the body is gzip of dimension strings and sketches, and decoding gives
// each group its strings, map entry and sketch pages (20–28 heap bytes per stored byte,
// measured on simulated days of 200 to 20,000 events).
const decodedPerStoredByte = 40

// DefaultRowCacheBytes is the memory a RowCache of the API functions may hold, estimated:
// under a fifth of their 256 MB (template.yaml), room for the rows of a few windows.
const DefaultRowCacheBytes = 48 << 20

// RowCache keeps decoded rollup rows for later requests of the same process: a dashboard
// or KernelCI's analytics page asks for the same window again and again, and all but its
// newest buckets are the same rows each time. A row is found by its stored bytes, so a
// rewritten row is a new entry and one never seen is never served; the rows it hands out
// are shared, read-only. A nil *RowCache decodes every row.
type RowCache struct {
	cache *otter.Cache[string, *Row]
	limit uint64
}

// NewRowCache returns a cache whose decoded rows take about maxBytes at most, least
// recently used out first (otter's W-TinyLFU).
func NewRowCache(maxBytes uint64) *RowCache {
	c, err := otter.New(&otter.Options[string, *Row]{
		MaximumWeight: maxBytes,
		Weigher: func(key string, _ *Row) uint32 {
			return uint32(min(uint64(len(key))*decodedPerStoredByte, 1<<32-1))
		},
	})
	if err != nil {
		// Only options out of range fail, and these are fixed here.
		panic(err)
	}
	return &RowCache{cache: c, limit: maxBytes}
}

// decode is DecodeRow, through the cache. Rows too large to share the cache with a few
// others are decoded each time.
func (c *RowCache) decode(body []byte, minExpires int64) (*Row, error) {
	if c == nil || uint64(len(body))*decodedPerStoredByte > c.limit/8 {
		return DecodeRow(body, minExpires)
	}
	key := strconv.FormatInt(minExpires, 36) + "\x00" + string(body)
	if row, ok := c.cache.GetIfPresent(key); ok {
		return row, nil
	}
	row, err := DecodeRow(body, minExpires)
	if err != nil {
		return nil, err
	}
	c.cache.Set(key, row)
	return row, nil
}
