package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// A Parquet file's footer is read and checked here before the Parquet
// library sees a byte of it: its length against the file and the worker's
// cap, its Thrift structure (checkThrift), the schema and row groups it
// describes, and the page index it points at, which is checked the same
// way. The library then opens the file from exactly the bytes checked.

// openParquet opens a Parquet source's footer through range reads, and
// returns the reader the file's pages are to be read through.
func (o *Opener) openParquet(ctx context.Context, uri string) (*parquet.File, *rangeReaderAt, error) {
	v, err := o.Stat(ctx, uri)
	if err != nil {
		return nil, nil, err
	}
	ra := &rangeReaderAt{ctx: ctx, o: o, uri: uri, want: v}
	checked, err := ra.checkFooter(o.limits())
	if err != nil {
		if ra.err != nil {
			return nil, nil, ra.err
		}
		return nil, nil, err
	}
	sr := &spanReader{spans: checked, next: ra}
	f, err := openParquetFile(sr, v.Size)
	sr.spans = nil // the library keeps what it decoded; the pages are read through ra
	if err != nil {
		if ra.err != nil {
			return nil, nil, ra.err
		}
		return nil, nil, permErr(nil, "source %s is not a Parquet file that can be read (%v)", Redact(uri), err)
	}
	if err := checkOffsetIndexes(f); err != nil {
		return nil, nil, permErr(nil, "the Parquet page index of %s is malformed: %v", Redact(uri), err)
	}
	return f, ra, nil
}

// openParquetFile is parquet.OpenFile, with a panic of the library on a
// file it cannot make sense of turned into an error.
func openParquetFile(r io.ReaderAt, size int64) (f *parquet.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("%v", p)
		}
	}()
	return parquet.OpenFile(r, size, parquet.SkipBloomFilters(true), parquet.ReadBufferSize(parquetReadBuffer))
}

// checkFooter reads a Parquet file's footer, and the page index it points
// at, and checks them. It returns the bytes it checked, for the library to
// open the file from.
func (ra *rangeReaderAt) checkFooter(l Limits) ([]span, error) {
	size, src := ra.want.Size, Redact(ra.uri)
	if size < 0 {
		return nil, permErr(ErrRangeUnsupported, "source %s gives no length, which a Parquet file is read by: %v", src, ErrRangeUnsupported)
	}
	if size < 12 {
		return nil, permErr(nil, "source %s is not a Parquet file that can be read: it is %d bytes, and the smallest is 12", src, size)
	}
	tail, err := ra.fetch(size-8, 8)
	if err != nil {
		return nil, err
	}
	switch string(tail[4:]) {
	case "PAR1":
	case "PARE":
		return nil, permErr(nil, "source %s is an encrypted Parquet file, which is not read", src)
	default:
		return nil, permErr(nil, "source %s is not a Parquet file that can be read: it does not end in PAR1", src)
	}
	n := int64(binary.LittleEndian.Uint32(tail))
	if n > size-12 {
		return nil, permErr(nil, "the Parquet footer of %s is malformed: it declares %d bytes in a file of %d", src, n, size)
	}
	if n > l.MaxParquetFooter {
		return nil, permErr(nil, "the Parquet footer of %s is %d bytes, more than the %d a worker reads (IMPORTER_PARQUET_MAX_FOOTER)", src, n, l.MaxParquetFooter)
	}
	footer, err := ra.fetch(size-8-n, n)
	if err != nil {
		return nil, err
	}
	budget := footerMemory * l.MaxParquetFooter
	if err := checkThriftPart(footer, &budget, footerStructCost, l, "footer", src); err != nil {
		return nil, err
	}
	var md format.FileMetaData
	var proto thrift.CompactProtocol
	if err := thrift.NewDecoder(proto.NewReaderFromBytes(footer)).Decode(&md); err != nil {
		return nil, permErr(nil, "source %s is not a Parquet file that can be read (%v)", src, err)
	}
	leaves, err := checkSchema(md.Schema, l, src)
	if err != nil {
		return nil, err
	}
	if err := checkRowGroups(md.RowGroups, leaves, size-8-n); err != nil {
		return nil, permErr(nil, "the Parquet footer of %s is malformed: %v", src, err)
	}
	spans := []span{{size - 8 - n, footer}, {size - 8, tail}}
	index, err := ra.checkPageIndex(md.RowGroups, size-8-n, l)
	if err != nil {
		return nil, err
	}
	return append(index, spans...), nil
}

// checkThriftPart checks a Thrift structure of a Parquet file (what names
// it: "footer", "column index of column 2 in row group 0"): the lengths it
// declares, and what it would take decoded, out of budget.
func checkThriftPart(b []byte, budget *int64, structCost int64, l Limits, what, src string) error {
	_, err := checkThrift(b, budget, structCost)
	switch {
	case errors.Is(err, errThriftBudget):
		return permErr(nil, "the Parquet %s of %s would take more than %d bytes of memory decoded, %d times IMPORTER_PARQUET_MAX_FOOTER",
			what, src, footerMemory*l.MaxParquetFooter, footerMemory)
	case err != nil:
		return permErr(nil, "the Parquet %s of %s is malformed: %v", what, src, err)
	}
	return nil
}

// checkSchema checks that a schema's elements make one tree, as deep and
// with as many leaf columns as the worker reads, and returns its leaves.
func checkSchema(schema []format.SchemaElement, l Limits, src string) (int, error) {
	if len(schema) == 0 {
		return 0, permErr(nil, "the Parquet footer of %s is malformed: it has no schema", src)
	}
	leaves := 0
	var open []int32 // children still to come, for each group open
	for i := range schema {
		if i > 0 && len(open) == 0 {
			return 0, permErr(nil, "the Parquet footer of %s is malformed: its schema has %d elements after the root's last", src, len(schema)-i)
		}
		e := &schema[i]
		if e.Type.Valid {
			if leaves++; leaves > l.MaxColumns {
				return 0, permErr(nil, "the Parquet schema of %s has more than %d columns, the most an import reads (IMPORTER_MAX_COLUMNS)", src, l.MaxColumns)
			}
		}
		if n := e.NumChildren; n.Valid && n.V > 0 {
			if int64(n.V) > int64(len(schema)-i-1) {
				return 0, permErr(nil, "the Parquet footer of %s is malformed: schema element %d declares %d children with %d elements left", src, i, n.V, len(schema)-i-1)
			}
			if len(open) >= l.MaxNesting {
				return 0, permErr(nil, "the Parquet schema of %s nests groups deeper than %d levels (IMPORTER_MAX_NESTING)", src, l.MaxNesting)
			}
			open = append(open, n.V)
			continue
		}
		for len(open) > 0 {
			if open[len(open)-1]--; open[len(open)-1] > 0 {
				break
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		return 0, permErr(nil, "the Parquet footer of %s is malformed: its schema ends before its groups' last children", src)
	}
	return leaves, nil
}

// maxRowsPerByte bounds the rows a Parquet file may declare for each byte
// of its data: far more than a list of users, whose every row has a key of
// its own, can pack (run-length and dictionary encoding included).
const maxRowsPerByte = 8

// checkRowGroups checks that each row group has a column chunk for each
// leaf column, each within the file's data (before end), and rows that
// add up.
func checkRowGroups(groups []format.RowGroup, leaves int, end int64) error {
	var rows int64
	for g := range groups {
		rg := &groups[g]
		if len(rg.Columns) != leaves {
			return fmt.Errorf("row group %d has %d column chunks for %d columns", g, len(rg.Columns), leaves)
		}
		if rg.NumRows < 0 || rg.NumRows > 1<<62-rows {
			return fmt.Errorf("row group %d declares %d rows", g, rg.NumRows)
		}
		rows += rg.NumRows
		// A row of a list of users takes bytes (its key, at least): a
		// footer that declares more rows than maxRowsPerByte for each byte
		// of data would have planning and the scan work, and hold memory,
		// for rows that are not there.
		if rows > maxRowsPerByte*max(end, 1) {
			return fmt.Errorf("its row groups declare %d rows in %d bytes of data, more than %d a byte", rows, end, maxRowsPerByte)
		}
		for _, sc := range rg.SortingColumns {
			if sc.ColumnIdx < 0 || int(sc.ColumnIdx) >= leaves {
				return fmt.Errorf("row group %d is sorted by column %d of %d", g, sc.ColumnIdx, leaves)
			}
		}
		for c := range rg.Columns {
			md := &rg.Columns[c].MetaData
			start := md.DataPageOffset
			if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
				start = md.DictionaryPageOffset
			}
			if md.DictionaryPageOffset > md.DataPageOffset {
				return fmt.Errorf("column %d of row group %d declares its dictionary after its data", c+1, g)
			}
			if start < 4 || md.DataPageOffset > end || md.TotalCompressedSize < 0 || md.TotalCompressedSize > end-start {
				return fmt.Errorf("column %d of row group %d declares bytes %d to %d, outside the file's data (4 to %d)", c+1, g, start, start+md.TotalCompressedSize, end)
			}
		}
	}
	return nil
}

// checkPageIndex checks the column and offset indexes of a file's column
// chunks where the library reads them (each in one read, from the first
// column chunk's offset on), and returns their bytes.
func (ra *rangeReaderAt) checkPageIndex(groups []format.RowGroup, end int64, l Limits) ([]span, error) {
	if len(groups) == 0 || len(groups[0].Columns) == 0 {
		return nil, nil
	}
	src := Redact(ra.uri)
	budget := footerMemory * l.MaxParquetFooter // for the whole page index
	var spans []span
	for _, kind := range []string{"column index", "offset index"} {
		at := func(c *format.ColumnChunk) (int64, int64) {
			if kind == "column index" {
				return c.ColumnIndexOffset, int64(c.ColumnIndexLength)
			}
			return c.OffsetIndexOffset, int64(c.OffsetIndexLength)
		}
		base, _ := at(&groups[0].Columns[0])
		var total int64
		for g := range groups {
			for c := range groups[g].Columns {
				off, n := at(&groups[g].Columns[c])
				if n < 0 || off < 0 {
					return nil, permErr(nil, "the Parquet footer of %s is malformed: the %s of column %d in row group %d is at byte %d, %d bytes", src, kind, c+1, g, off, n)
				}
				total += n
			}
		}
		if base <= 0 || total == 0 {
			continue // the library reads none
		}
		if total > l.MaxParquetFooter {
			return nil, permErr(nil, "the Parquet %s of %s is %d bytes, more than the %d a worker reads (IMPORTER_PARQUET_MAX_FOOTER)", kind, src, total, l.MaxParquetFooter)
		}
		if base > end-total {
			return nil, permErr(nil, "the Parquet footer of %s is malformed: its %s runs from byte %d to %d, past the file's data (%d)", src, kind, base, base+total, end)
		}
		for g := range groups {
			for c := range groups[g].Columns {
				off, n := at(&groups[g].Columns[c])
				if off > 0 && (off < base || off-base > total-n) {
					return nil, permErr(nil, "the Parquet footer of %s is malformed: the %s of column %d in row group %d is at byte %d, outside the index (%d to %d)", src, kind, c+1, g, off, base, base+total)
				}
			}
		}
		b, err := ra.fetch(base, total)
		if err != nil {
			return nil, err
		}
		for g := range groups {
			for c := range groups[g].Columns {
				if off, n := at(&groups[g].Columns[c]); off > 0 && n > 0 {
					if err := checkThriftPart(b[off-base:off-base+n], &budget, pageIndexStructCost, l, fmt.Sprintf("%s of column %d in row group %d", kind, c+1, g), src); err != nil {
						return nil, err
					}
				}
			}
		}
		spans = append(spans, span{base, b})
	}
	if len(spans) == 2 && spans[1].off < spans[0].off {
		spans[0], spans[1] = spans[1], spans[0]
	}
	return spans, nil
}

// checkOffsetIndexes checks that the pages each offset index locates lie
// in their column chunk, in order, from its first row on.
func checkOffsetIndexes(f *parquet.File) error {
	offsets := f.OffsetIndexes()
	groups := f.Metadata().RowGroups
	for g := range groups {
		n := len(groups[g].Columns)
		for c := range groups[g].Columns {
			k := g*n + c
			if k >= len(offsets) {
				return nil
			}
			md := &groups[g].Columns[c].MetaData
			start := md.DataPageOffset
			if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
				start = md.DictionaryPageOffset
			}
			end := start + md.TotalCompressedSize
			pages := offsets[k].PageLocations
			for p, loc := range pages {
				switch {
				case loc.Offset < start || loc.CompressedPageSize <= 0 || int64(loc.CompressedPageSize) > end-loc.Offset:
					return fmt.Errorf("page %d of column %d in row group %d, at byte %d, %d bytes, is not within its column chunk (bytes %d to %d)", p+1, c+1, g, loc.Offset, loc.CompressedPageSize, start, end)
				case p == 0 && loc.FirstRowIndex != 0,
					p > 0 && (loc.Offset < pages[p-1].Offset+int64(pages[p-1].CompressedPageSize) || loc.FirstRowIndex < pages[p-1].FirstRowIndex),
					loc.FirstRowIndex > groups[g].NumRows:
					return fmt.Errorf("page %d of column %d in row group %d is out of order", p+1, c+1, g)
				}
			}
		}
	}
	return nil
}
