package source

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The Parquet library reads a page's header, then allocates the page's
// bytes as the header says, then what they decompress to, and buffers for
// as many values as it says: all before it reads a byte of the page. A
// header is checked here before the library sees it: it must fit its column
// chunk, and what it declares must fit what a chunk may hold.

// pageHeaderRead is how many bytes are read at first to check a page
// header: most are tens of bytes.
const pageHeaderRead = 256

// readPageHeader reads the page header at h of a column chunk that ends at
// end, through r, and checks it: its Thrift structure, that its page fits
// in the column chunk, and that decoding the page, with values of
// valueBytes each at most, takes no more than l.MaxChunkBytes. It returns
// the header, its length, and the bytes it read from h (at least the
// header). A header that fails the check is a permanent error, a sentence
// that names the column (what: "column 2 of row group 0") but not the
// source; r's errors are returned as they are.
func readPageHeader(r io.ReaderAt, h, end int64, col pageColumn, l Limits, what string) (format.PageHeader, int, []byte, error) {
	hdr, n, b, err := readHeaderBytes(r, h, end, col, l)
	if p := (*pageProblem)(nil); errors.As(err, &p) {
		return hdr, n, b, permErr(nil, "in %s, %s", what, p.msg)
	}
	return hdr, n, b, err
}

// pageProblem is what is wrong with a page header.
type pageProblem struct{ msg string }

func (p *pageProblem) Error() string { return p.msg }

func pageErr(format string, args ...any) error {
	return &pageProblem{fmt.Sprintf(format, args...)}
}

func readHeaderBytes(r io.ReaderAt, h, end int64, col pageColumn, l Limits) (format.PageHeader, int, []byte, error) {
	most := min(end-h, l.MaxChunkBytes) // the bytes a header may take
	for size := int64(pageHeaderRead); ; size *= 8 {
		b := make([]byte, min(size, most))
		if k, err := r.ReadAt(b, h); k < len(b) {
			if !errors.Is(err, io.EOF) {
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return format.PageHeader{}, 0, nil, err
			}
			b, most, end = b[:k], int64(k), h+int64(k) // r ends there
		}
		budget := l.MaxChunkBytes
		n, err := checkThrift(b, &budget, pageIndexStructCost)
		var short *thriftShort
		switch {
		case errors.As(err, &short) && short.need <= most:
			size = max(size, short.need)
			continue // a longer header: read more
		case errors.As(err, &short) && short.need <= end-h, errors.Is(err, errThriftBudget):
			return format.PageHeader{}, 0, nil, pageErr("the page header at byte %d would take more than %d bytes (IMPORTER_MAX_CHUNK_BYTES)", h, l.MaxChunkBytes)
		case err != nil:
			return format.PageHeader{}, 0, nil, pageErr("the page header at byte %d is malformed: %v", h, err)
		}
		var hdr format.PageHeader
		var proto thrift.CompactProtocol
		if err := thrift.NewDecoder(proto.NewReaderFromBytes(b[:n])).Decode(&hdr); err != nil {
			return format.PageHeader{}, 0, nil, pageErr("the page header at byte %d is malformed: %v", h, err)
		}
		if err := checkPage(&hdr, h, int64(n), end, col, l); err != nil {
			return format.PageHeader{}, 0, nil, err
		}
		return hdr, n, b, nil
	}
}

// checkPage checks what a page header at h, n bytes long, declares.
func checkPage(hdr *format.PageHeader, h, n, end int64, col pageColumn, l Limits) error {
	compressed, uncompressed := int64(hdr.CompressedPageSize), int64(hdr.UncompressedPageSize)
	if compressed < 0 || compressed > end-h-n {
		return pageErr("the page header at byte %d is malformed: it declares a page of %d bytes with %d left in its column chunk", h, compressed, end-h-n)
	}
	if n+compressed > math.MaxInt32 {
		return pageErr("the page header at byte %d is malformed: it and its page take %d bytes", h, n+compressed)
	}
	if uncompressed < 0 {
		return pageErr("the page header at byte %d is malformed: it declares a page of %d bytes uncompressed", h, uncompressed)
	}
	var values int64
	switch {
	case hdr.DataPageHeader.Valid:
		values = int64(hdr.DataPageHeader.V.NumValues)
	case hdr.DataPageHeaderV2.Valid:
		values = int64(hdr.DataPageHeaderV2.V.NumValues)
	case hdr.DictionaryPageHeader.Valid:
		values = int64(hdr.DictionaryPageHeader.V.NumValues)
	}
	if values < 0 {
		return pageErr("the page header at byte %d is malformed: it declares %d values", h, values)
	}
	if hdr.DataPageHeaderV2.Valid {
		// The library sizes buffers from these before it reads the page:
		// values less nulls, and the levels' bytes within the page.
		v2 := hdr.DataPageHeaderV2.V
		nulls, rows := int64(v2.NumNulls), int64(v2.NumRows)
		rep, def := int64(v2.RepetitionLevelsByteLength), int64(v2.DefinitionLevelsByteLength)
		switch {
		case nulls < 0 || nulls > values:
			return pageErr("the page header at byte %d is malformed: it declares %d nulls among %d values", h, nulls, values)
		case nulls > 0 && col.required:
			return pageErr("the page header at byte %d is malformed: it declares %d nulls in a required column", h, nulls)
		case rows < 0 || rows > values:
			return pageErr("the page header at byte %d is malformed: it declares %d rows with %d values", h, rows, values)
		case rep < 0 || def < 0 || rep+def > compressed:
			return pageErr("the page header at byte %d is malformed: its levels declare %d bytes of a %d-byte page", h, rep+def, compressed)
		}
	}
	if need := compressed + uncompressed + values*col.valueBytes; need > l.MaxChunkBytes {
		return pageErr("the page at byte %d would take %d bytes to decode (%d values, %d bytes uncompressed), more than the %d a chunk may hold (IMPORTER_MAX_CHUNK_BYTES)",
			h, need, values, uncompressed, l.MaxChunkBytes)
	}
	return nil
}

// pageColumn is what a page header is checked against of its column: the
// most one value is counted to take decoded, and whether it is required
// (no value of it may be null).
type pageColumn struct {
	valueBytes int64
	required   bool
}

// columnOf is the pageColumn of a leaf column.
func columnOf(n parquet.Node) pageColumn {
	return pageColumn{valueBytes: valueBytes(n.Type()), required: n.Required()}
}

// valueBytes is the most one value of a column of type t is counted to
// take decoded: its levels, its offset, the value (a fixed-length byte
// array's bytes, or at most 12).
func valueBytes(t parquet.Type) int64 {
	if t.Kind() == parquet.FixedLenByteArray {
		return 16 + int64(max(t.Length(), 0))
	}
	return 16
}

// pageGuard is what the Parquet library reads a column chunk's pages
// through: before it serves bytes where a page header starts, it checks
// the header (readPageHeader). It knows where headers start from where the
// chunk starts, where its data pages do, where an offset index puts pages,
// and from each header it checks, where the next one does; the library
// reads headers nowhere else. A header that fails the check fails the
// read, and is kept in problem for the reader to say.
type pageGuard struct {
	r       io.ReaderAt
	end     int64 // where the column chunk ends, as r shows it
	col     pageColumn
	limits  Limits
	what    string // "column 2 of row group 0"
	problem *error

	starts  []int64 // where headers start, sorted
	checked map[int64]bool
	kept    span // the bytes read for the last header checked
}

func newPageGuard(r io.ReaderAt, end int64, col pageColumn, l Limits, what string, problem *error, starts ...int64) *pageGuard {
	g := &pageGuard{r: r, end: end, col: col, limits: l, what: what, problem: problem, checked: map[int64]bool{}}
	for _, s := range starts {
		g.add(s)
	}
	return g
}

// add notes that a header starts at off.
func (g *pageGuard) add(off int64) {
	if off >= g.end {
		return
	}
	i := sort.Search(len(g.starts), func(i int) bool { return g.starts[i] >= off })
	if i < len(g.starts) && g.starts[i] == off {
		return
	}
	g.starts = append(g.starts, 0)
	copy(g.starts[i+1:], g.starts[i:])
	g.starts[i] = off
}

func (g *pageGuard) ReadAt(p []byte, off int64) (int, error) {
	to := off + int64(len(p))
	for i := sort.Search(len(g.starts), func(i int) bool { return g.starts[i] >= off }); i < len(g.starts) && g.starts[i] < to; i++ {
		h := g.starts[i]
		if g.checked[h] {
			continue
		}
		hdr, n, b, err := readPageHeader(g.r, h, g.end, g.col, g.limits, g.what)
		if err != nil {
			if errors.Is(err, ErrPermanent) && g.problem != nil && *g.problem == nil {
				*g.problem = err
			}
			return 0, err
		}
		g.checked[h] = true
		g.kept = span{h, b}
		g.add(h + int64(n) + int64(hdr.CompressedPageSize)) // after h: the loop reaches it
	}
	if k := g.kept; off >= k.off && to <= k.off+int64(len(k.data)) {
		return copy(p, k.data[off-k.off:]), nil
	}
	return g.r.ReadAt(p, off)
}
