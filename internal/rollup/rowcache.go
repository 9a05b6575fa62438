package rollup

import (
	"strconv"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// decodedPerStoredByte estimates the memory of a decoded row per byte of its stored body,
// on the high side: the body is gzip of dimension strings and sketches, and decoding gives
// each group its strings, map entry and sketch pages (20–28 heap bytes per stored byte,
// measured on simulated days of 200 to 20,000 events).
const decodedPerStoredByte = 40

// DefaultRowCacheBytes is the memory a RowCache of the API functions may hold, estimated:
// under a fifth of their 256 MB (template.yaml), room for the rows of a few windows.
const DefaultRowCacheBytes = 48 << 20

// maxCachedRows bounds the entries as well: far more rows than a window, or the 406 of
// the longest trend, is spread over.
const maxCachedRows = 4096

// RowCache keeps decoded rollup rows for later requests of the same process: a dashboard
// or KernelCI's analytics page asks for the same window again and again, and all but its
// newest buckets are the same rows each time. A row is found by its stored bytes, so a
// rewritten row is a new entry and one never seen is never served; the rows it hands out
// are shared, read-only. The least recently used rows leave first once the estimated
// memory passes the limit. A nil *RowCache decodes every row. Safe for concurrent use.
type RowCache struct {
	mu     sync.Mutex
	rows   *simplelru.LRU[string, *Row]
	weight uint64 // estimated bytes of the rows held
	limit  uint64
}

// NewRowCache returns a cache whose decoded rows take about maxBytes at most.
func NewRowCache(maxBytes uint64) *RowCache {
	c := &RowCache{limit: maxBytes}
	// Only a size below 1 fails.
	c.rows, _ = simplelru.NewLRU(maxCachedRows, func(key string, _ *Row) { c.weight -= weigh(key) })
	return c
}

// weigh is the estimated memory of the row stored as key.
func weigh(key string) uint64 { return uint64(len(key)) * decodedPerStoredByte }

// decode is DecodeRow, through the cache. Rows too large to share the cache with a few
// others are decoded each time.
func (c *RowCache) decode(body []byte, minExpires int64) (*Row, error) {
	if c == nil || uint64(len(body))*decodedPerStoredByte > c.limit/8 {
		return DecodeRow(body, minExpires)
	}
	key := strconv.FormatInt(minExpires, 36) + "\x00" + string(body)
	c.mu.Lock()
	row, ok := c.rows.Get(key)
	c.mu.Unlock()
	if ok {
		return row, nil
	}
	row, err := DecodeRow(body, minExpires)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.rows.Contains(key) { // another request may have decoded it meanwhile
		c.rows.Add(key, row)
		c.weight += weigh(key)
		for c.weight > c.limit {
			c.rows.RemoveOldest()
		}
	}
	return row, nil
}
