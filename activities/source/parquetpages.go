package source

import (
	"fmt"
	"io"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// How a Parquet source is read, so that an import reads it about once:
//
//   - A chunk reads, for each column, only the pages that hold its rows (the
//     offset index in the footer says where they are), each run of pages
//     one range read, plus the column's dictionary page.
//   - Chunks next to each other share the pages at their edges, and a
//     column whose pages hold more rows than a chunk is in every chunk of
//     them; the worker keeps the pages, the footer and the page index it
//     read last (rangeCacheBytes), so that chunks that run on one worker
//     read each of them once.
//   - The duplicate scan reads only the column chunks of the key columns.

// parquetReadBuffer is the buffer the Parquet library reads page headers
// through. Pages are fetched whole ahead of it, so it only needs to hold a
// header; a small one keeps the reads past the last page a chunk needs
// small too.
const parquetReadBuffer = 64

// span is bytes of a source from off.
type span struct {
	off  int64
	data []byte
}

// spanReader serves reads from spans fetched ahead (sorted by offset), and
// anything outside them from next.
type spanReader struct {
	spans []span
	next  io.ReaderAt
}

func (r *spanReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		at := off + int64(n)
		i := sort.Search(len(r.spans), func(i int) bool { return r.spans[i].off+int64(len(r.spans[i].data)) > at })
		if i == len(r.spans) || r.spans[i].off > at {
			m, err := r.next.ReadAt(p[n:], at)
			return n + m, err
		}
		n += copy(p[n:], r.spans[i].data[at-r.spans[i].off:])
	}
	return n, nil
}

// windowReader reads a section of a source ahead, window bytes at a time
// and never past end: a column chunk read from start to end in a few
// range reads.
type windowReader struct {
	r      *rangeReaderAt
	end    int64
	window int64
	buf    span
}

func (w *windowReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at < w.buf.off || at >= w.buf.off+int64(len(w.buf.data)) {
			if at >= w.end {
				return w.r.ReadAt(p[n:], at)
			}
			size := min(max(w.window, int64(len(p)-n)), w.end-at)
			b := make([]byte, size)
			if _, err := w.r.readRemote(b, at); err != nil {
				return n, err
			}
			w.buf = span{off: at, data: b}
		}
		n += copy(p[n:], w.buf.data[at-w.buf.off:])
	}
	return n, nil
}

// pagedGroup is a row group whose column chunks read their pages through
// readers of this package rather than one range read per buffer.
type pagedGroup struct {
	parquet.RowGroup
	columns []parquet.ColumnChunk
}

func (g pagedGroup) ColumnChunks() []parquet.ColumnChunk { return g.columns }
func (g pagedGroup) Rows() parquet.Rows                  { return parquet.NewRowGroupRowReader(g) }

type pagedColumn struct {
	*parquet.FileColumnChunk
	r       io.ReaderAt
	rowBase int64 // the row of the row group that the pages r shows begin with
}

func (c pagedColumn) Pages() parquet.Pages {
	if c.rowBase == 0 {
		return c.PagesFrom(c.r)
	}
	return shiftedPages{c.PagesFrom(c.r), c.rowBase}
}

// shiftedPages are pages that begin at row base of their row group.
type shiftedPages struct {
	parquet.Pages
	base int64
}

func (p shiftedPages) SeekToRow(row int64) error {
	if row < p.base {
		return fmt.Errorf("row %d is before the pages read, which begin at row %d", row, p.base)
	}
	return p.Pages.SeekToRow(row - p.base)
}

// shiftReader shows the bytes of r from+delta on at from, up to end (of
// r): a column chunk whose data pages begin with a later page, and end
// where the chunk ends.
type shiftReader struct {
	r                io.ReaderAt
	from, delta, end int64
}

func (s *shiftReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < s.from {
		k := int(min(int64(len(p)), s.from-off))
		m, err := s.r.ReadAt(p[:k], off)
		if n = m; err != nil || k == len(p) {
			return n, err
		}
	}
	at := off + int64(n) + s.delta
	if at >= s.end {
		return n, io.EOF
	}
	if rest := s.end - at; rest < int64(len(p)-n) {
		m, err := s.r.ReadAt(p[n:n+int(rest)], at)
		if err == nil {
			err = io.EOF
		}
		return n + m, err
	}
	m, err := s.r.ReadAt(p[n:], at)
	return n + m, err
}

// walkWhole is the size up to which a column chunk without an offset
// index is read whole to find its pages.
const walkWhole = 1 << 20

// remoteReader reads each ReadAt with a range read of its own.
type remoteReader struct{ ra *rangeReaderAt }

func (r remoteReader) ReadAt(p []byte, off int64) (int, error) { return r.ra.readRemote(p, off) }

// walkedPages is where the data pages of a column chunk without an offset
// index begin, and the row each begins with, from their headers: one small
// read a page, once a worker for each column chunk. ok is false if the
// headers do not say (version 1 pages of a repeated column, or a
// dictionary the footer does not point at), and the chunk is read from its
// start. Each header is checked (readPageHeader) on the way; what names
// the column chunk for a header that fails the check.
func (ra *rangeReaderAt) walkedPages(md format.ColumnMetaData, start, end int64, repeated bool, col pageColumn, what string) (pages []format.PageLocation, ok bool, err error) {
	cache := ra.o.cache()
	source := cacheSource(ra.uri, ra.want)
	w, mine := cache.walk(source, start)
	if !mine {
		select {
		case <-w.done:
		case <-ra.ctx.Done():
			return nil, false, ra.ctx.Err()
		}
		if w.err == nil {
			return w.pages, w.ok, nil
		}
	}
	defer func() {
		if mine {
			w.pages, w.ok, w.err = pages, ok, err
			close(w.done)
		}
	}()
	// A small column chunk is read whole, and its pages kept for the
	// chunks; a larger one's headers are read one by one, each a small read
	// (its pages are large: the headers are a sliver of it).
	var whole []byte
	var r io.ReaderAt = remoteReader{ra}
	if end-start <= walkWhole {
		if whole, err = ra.fetch(start, end-start); err != nil {
			return nil, false, err
		}
		r = &spanReader{spans: []span{{start, whole}}, next: ra}
	}
	limits := ra.o.limits()
	var row int64
	for off := md.DataPageOffset; off < end; {
		h, n, _, err := readPageHeader(r, off, end, col, limits, what)
		if err != nil {
			return nil, false, err
		}
		size := int64(n) + int64(h.CompressedPageSize) // within the chunk: readPageHeader checked
		if whole != nil {
			ra.o.cache().put(source, off, whole[off-start:off-start+size])
		}
		loc := format.PageLocation{Offset: off, CompressedPageSize: int32(size), FirstRowIndex: row}
		switch {
		case h.Type == format.DataPage && h.DataPageHeader.Valid && !repeated:
			row += int64(h.DataPageHeader.V.NumValues)
		case h.Type == format.DataPageV2 && h.DataPageHeaderV2.Valid:
			row += int64(h.DataPageHeaderV2.V.NumRows)
		case h.Type == format.DictionaryPage && off == start && md.DictionaryPageOffset == start:
			off += size
			continue
		default:
			return nil, false, nil
		}
		pages = append(pages, loc)
		off += size
	}
	return pages, len(pages) > 0, nil
}

// chunkGroup is row group g of f set to read rows [from, to): each column
// chunk reads the pages that hold them, fetched ahead, each run of pages
// not kept by the worker in one range read. A column chunk the offset
// index does not describe is read from its start, a window at a time. The
// library reads each column chunk's pages through a pageGuard, which
// checks each page header before the library decodes it, and keeps what
// it finds wrong in ra.problem.
func chunkGroup(f *parquet.File, ra *rangeReaderAt, g int, from, to int64) (parquet.RowGroup, error) {
	rg := f.RowGroups()[g]
	meta := f.Metadata().RowGroups[g]
	offsets := f.OffsetIndexes()
	chunks := rg.ColumnChunks()
	columns := make([]parquet.ColumnChunk, len(chunks))
	limits := ra.o.limits()
	for i, cc := range chunks {
		fc, ok := cc.(*parquet.FileColumnChunk)
		if !ok {
			return nil, fmt.Errorf("column %d of row group %d is not in the file", i+1, g)
		}
		md := meta.Columns[i].MetaData
		start := md.DataPageOffset
		if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
			start = md.DictionaryPageOffset
		}
		end := start + md.TotalCompressedSize
		leaf, _ := f.Schema().Lookup(f.Schema().Columns()[i]...)
		values, what := columnOf(leaf.Node), fmt.Sprintf("column %d of row group %d", i+1, g)
		guard := func(r io.ReaderAt, end int64, starts ...int64) *pageGuard {
			return newPageGuard(r, end, values, limits, what, &ra.problem, append(starts, start, md.DataPageOffset)...)
		}
		var pages []format.PageLocation
		if k := g*len(chunks) + i; k < len(offsets) {
			pages = offsets[k].PageLocations
		}
		shifted := false
		if len(pages) == 0 {
			walked, ok, err := ra.walkedPages(md, start, end, leaf.MaxRepetitionLevel > 0, values, what)
			if err != nil {
				return nil, err
			}
			if !ok {
				columns[i] = pagedColumn{FileColumnChunk: fc, r: guard(&windowReader{r: ra, end: end, window: 1 << 20}, end)}
				continue
			}
			pages, shifted = walked, true
		}
		first := sort.Search(len(pages), func(p int) bool { return pages[p].FirstRowIndex > from }) - 1
		last := sort.Search(len(pages), func(p int) bool { return pages[p].FirstRowIndex >= to }) - 1
		first = max(first, 0)
		var spans []span
		if pages[0].Offset > start { // the dictionary page
			b, err := ra.fetch(start, pages[0].Offset-start)
			if err != nil {
				return nil, err
			}
			spans = append(spans, span{start, b})
		}
		data, err := fetchPages(ra, pages[first:last+1])
		if err != nil {
			return nil, err
		}
		for p, b := range data {
			spans = append(spans, span{pages[first+p].Offset, b})
		}
		col := pagedColumn{FileColumnChunk: fc, r: &spanReader{spans: spans, next: ra}}
		if shifted {
			// Without an offset index the library reads a column chunk
			// from its first data page on: it is shown the chunk's first
			// page there, and rows counted from that page's first.
			delta := pages[first].Offset - md.DataPageOffset
			col.r = guard(&shiftReader{r: col.r, from: md.DataPageOffset, delta: delta, end: end}, end-delta)
			col.rowBase = pages[first].FirstRowIndex
		} else {
			starts := make([]int64, len(pages))
			for p, loc := range pages {
				starts[p] = loc.Offset
			}
			col.r = guard(col.r, end, starts...)
		}
		columns[i] = col
	}
	return pagedGroup{RowGroup: rg, columns: columns}, nil
}

// fetchPages returns the bytes of a run of pages of a column chunk. Each
// page is kept on its own, so that the next chunk finds the one at its
// edge; the pages that are not kept, nor being fetched by another chunk,
// are read in one range read for each run of them.
func fetchPages(ra *rangeReaderAt, pages []format.PageLocation) ([][]byte, error) {
	cache, source := ra.o.cache(), cacheSource(ra.uri, ra.want)
	data := make([][]byte, len(pages))
	waits := make([]<-chan struct{}, len(pages))
	// The pages this read claims are released before it waits for the
	// pages of others: no two reads wait for each other.
	mine, claimed := make(chan struct{}), []int64(nil)
	released := false
	release := func() {
		if !released {
			released = true
			cache.done(source, claimed, mine)
		}
	}
	defer release()
	var run []int // claimed pages in a row, not yet read
	fetchRun := func() error {
		if len(run) == 0 {
			return nil
		}
		first, last := pages[run[0]], pages[run[len(run)-1]]
		b := make([]byte, last.Offset+int64(last.CompressedPageSize)-first.Offset)
		if _, err := ra.readRemote(b, first.Offset); err != nil {
			return err
		}
		for _, p := range run {
			data[p] = b[pages[p].Offset-first.Offset : pages[p].Offset-first.Offset+int64(pages[p].CompressedPageSize)]
			cache.put(source, pages[p].Offset, data[p])
		}
		run = run[:0]
		return nil
	}
	for p, loc := range pages {
		if len(run) > 0 && run[len(run)-1] != p-1 {
			if err := fetchRun(); err != nil {
				return nil, err
			}
		}
		b, wait := cache.claim(source, loc.Offset, int(loc.CompressedPageSize), mine)
		switch {
		case b != nil:
			data[p] = b
		case wait != nil:
			waits[p] = wait
		default:
			claimed = append(claimed, loc.Offset)
			run = append(run, p)
		}
	}
	if err := fetchRun(); err != nil {
		return nil, err
	}
	release()
	for p, wait := range waits {
		if wait == nil {
			continue
		}
		select {
		case <-wait:
		case <-ra.ctx.Done():
			return nil, ra.ctx.Err()
		}
		b, err := ra.fetch(pages[p].Offset, int64(pages[p].CompressedPageSize)) // kept, unless the other read failed
		if err != nil {
			return nil, err
		}
		data[p] = b
	}
	return data, nil
}
