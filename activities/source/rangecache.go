package source

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/parquet-go/parquet-go/format"
)

// rangeCacheBytes bounds the Parquet bytes a worker keeps for the chunks
// that come next: a few chunks' worth of pages for the usual files.
const rangeCacheBytes = 64 << 20

// rangeCache keeps the bytes of a worker's recent Parquet range reads,
// keyed by the source's version and offset. Only a source that names its
// version (an ETag or a modification time) is cached, so a cached byte is
// always one of the version a read has just checked.
type rangeCache struct {
	mu      sync.Mutex
	size    int64
	lru     list.List // of *cachedRange, the most recent first
	items   map[rangeKey]*list.Element
	pending map[rangeKey]chan struct{} // pages a read is fetching now
	walks   map[rangeKey]*pageWalk     // column chunks' pages found from their headers
}

// pageWalk is the pages of a column chunk found from their headers;
// done is closed once they are.
type pageWalk struct {
	done  chan struct{}
	pages []format.PageLocation
	ok    bool
	err   error
}

// failed says whether the walk ended in an error: the next read walks
// again.
func (w *pageWalk) failed() bool {
	select {
	case <-w.done:
		return w.err != nil
	default:
		return false
	}
}

// maxWalks bounds the column chunks whose pages a worker keeps.
const maxWalks = 4096

// walk returns the walk of the column chunk at start, and whether the
// caller is to do it (and close done); otherwise it is done or under way.
func (c *rangeCache) walk(source string, start int64) (*pageWalk, bool) {
	w := &pageWalk{done: make(chan struct{})}
	if c == nil || source == "" {
		return w, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := rangeKey{source, start}
	if old, ok := c.walks[k]; ok && !old.failed() {
		return old, false
	}
	if c.walks == nil || len(c.walks) >= maxWalks {
		c.walks = map[rangeKey]*pageWalk{}
	}
	c.walks[k] = w
	return w, true
}

type rangeKey struct {
	source string // the URI and its version: cacheSource
	off    int64
}

type cachedRange struct {
	key  rangeKey
	data []byte
}

// cacheSource names a source's version for the cache; "" when the source
// does not say which version it is, and its bytes are not cached.
func cacheSource(uri string, v Version) string {
	if v.ETag == "" && v.LastModified == "" {
		return ""
	}
	return fmt.Sprintf("%s\x00%d\x00%s\x00%s", uri, v.Size, v.ETag, v.LastModified)
}

// get returns the first n bytes kept at off, if at least n are kept.
func (c *rangeCache) get(source string, off int64, n int) ([]byte, bool) {
	if c == nil || source == "" {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[rangeKey{source, off}]
	if !ok {
		return nil, false
	}
	r := e.Value.(*cachedRange)
	if len(r.data) < n {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return r.data[:n], true
}

// put keeps data, read at off, dropping the least recently used bytes
// beyond rangeCacheBytes.
func (c *rangeCache) put(source string, off int64, data []byte) {
	if c == nil || source == "" || len(data) == 0 || len(data) > rangeCacheBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[rangeKey]*list.Element{}
	}
	k := rangeKey{source, off}
	if e, ok := c.items[k]; ok {
		r := e.Value.(*cachedRange)
		if len(r.data) >= len(data) {
			c.lru.MoveToFront(e)
			return
		}
		c.size -= int64(len(r.data))
		c.lru.Remove(e)
	}
	c.items[k] = c.lru.PushFront(&cachedRange{key: k, data: data})
	c.size += int64(len(data))
	for c.size > rangeCacheBytes {
		e := c.lru.Back()
		r := e.Value.(*cachedRange)
		c.lru.Remove(e)
		delete(c.items, r.key)
		c.size -= int64(len(r.data))
	}
}

// cache is the worker's rangeCache (none for a nil Opener).
func (o *Opener) cache() *rangeCache {
	if o == nil {
		return nil
	}
	return &o.ranges
}

// claim returns the n bytes kept at off if there are, or else a channel
// that is closed when another read that is fetching them ends, or else
// (nil, nil): the caller is to fetch them, and must call done once it has
// kept them or failed. Chunks that run at once on a worker thus read the
// pages they share once.
func (c *rangeCache) claim(source string, off int64, n int, done chan struct{}) ([]byte, <-chan struct{}) {
	if c == nil || source == "" {
		return nil, nil
	}
	if b, ok := c.get(source, off, n); ok {
		return b, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := rangeKey{source, off}
	if ch, ok := c.pending[k]; ok {
		return nil, ch
	}
	if c.pending == nil {
		c.pending = map[rangeKey]chan struct{}{}
	}
	c.pending[k] = done
	return nil, nil
}

// done ends the claims of a read on the pages at offs, and wakes the
// reads waiting for them.
func (c *rangeCache) done(source string, offs []int64, ch chan struct{}) {
	if c == nil || source == "" {
		close(ch)
		return
	}
	c.mu.Lock()
	for _, off := range offs {
		if c.pending[rangeKey{source, off}] == ch {
			delete(c.pending, rangeKey{source, off})
		}
	}
	c.mu.Unlock()
	close(ch)
}

// fetch reads [off, off+n) of a Parquet source: from the cache if a read
// at off kept that much, else with one range read, which it keeps.
func (r *rangeReaderAt) fetch(off, n int64) ([]byte, error) {
	source := cacheSource(r.uri, r.want)
	if b, ok := r.o.cache().get(source, off, int(n)); ok {
		return b, nil
	}
	b := make([]byte, n)
	if _, err := r.readRemote(b, off); err != nil {
		return nil, err
	}
	r.o.cache().put(source, off, b)
	return b, nil
}
