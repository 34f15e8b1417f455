package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// keyColumns are the leaf columns of f that hold columns (dotted names),
// if a scan can read them alone: each names exactly one leaf, not a
// repeated one, of a type whose text is the same read as a value alone as
// read in its row (keyText). ok is false otherwise, and the scan reads
// whole rows.
func keyColumns(f *parquet.File, columns []string) (leaves []int, ok bool) {
	index := map[string]int{}
	for i, path := range f.Schema().Columns() {
		name := strings.Join(path, ".")
		if _, dup := index[name]; dup {
			index[name] = -1
			continue
		}
		index[name] = i
	}
	for _, col := range columns {
		i, found := index[col]
		if !found || i < 0 {
			return nil, false
		}
		leaf, found := f.Schema().Lookup(f.Schema().Columns()[i]...)
		if !found || leaf.MaxRepetitionLevel > 0 || !plainScalar(leaf.Node.Type()) {
			return nil, false
		}
		leaves = append(leaves, leaf.ColumnIndex)
	}
	return leaves, true
}

// plainScalar says whether a leaf type is one keyText renders as a whole
// row's decoding does: booleans, plain or 32/64-bit signed integers,
// floating point numbers, and strings or plain byte arrays.
func plainScalar(t parquet.Type) bool {
	var lt format.LogicalTypeValue
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	switch t.Kind() {
	case parquet.Boolean, parquet.Float, parquet.Double:
		return lt == nil
	case parquet.Int32, parquet.Int64:
		if it, isInt := lt.(*format.IntType); isInt {
			return it.IsSigned && (it.BitWidth == 32 && t.Kind() == parquet.Int32 || it.BitWidth == 64 && t.Kind() == parquet.Int64)
		}
		return lt == nil
	case parquet.ByteArray:
		_, isString := lt.(*format.StringType)
		return lt == nil || isString
	}
	return false
}

// keyText is a value's text as scalarText gives it for the value decoded
// with its row: numbers as JSON writes them, "" for null.
func keyText(v parquet.Value) string {
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.FormatBool(v.Boolean())
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	case parquet.Float:
		return strconv.FormatFloat(float64(v.Float()), 'f', -1, 32)
	case parquet.Double:
		return strconv.FormatFloat(v.Double(), 'f', -1, 64)
	case parquet.ByteArray:
		return string(v.ByteArray())
	}
	return "" // null
}

// columnValues reads one value after another of a column chunk, a page at
// a time.
type columnValues struct {
	pages  parquet.Pages
	page   parquet.Page
	values parquet.ValueReader
	buf    []parquet.Value
	i, n   int
	// required: a null in it makes the row one that cannot be decoded,
	// as the row reader finds it.
	required bool
}

// next returns the next value; a byte array's bytes are valid until the
// next call.
func (c *columnValues) next() (parquet.Value, error) {
	for c.i == c.n {
		if c.values == nil {
			c.release()
			p, err := c.pages.ReadPage()
			if err != nil {
				return parquet.Value{}, err
			}
			c.page, c.values = p, p.Values()
		}
		n, err := c.values.ReadValues(c.buf)
		c.i, c.n = 0, n
		if errors.Is(err, io.EOF) {
			c.values = nil
		} else if err != nil {
			return parquet.Value{}, err
		}
	}
	c.i++
	return c.buf[c.i-1], nil
}

func (c *columnValues) release() {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
}

func (c *columnValues) Close() error {
	c.release()
	return c.pages.Close()
}

// readParquetKeys is readColumns for a Parquet file: it reads the column
// chunks of the key columns alone, a window at a time, when keyColumns
// allows, and whole rows otherwise.
func readParquetKeys(ctx context.Context, o *Opener, uri string, version Version, c Chunk, columns []string, fn func(line int64, values []string, ok bool) error) error {
	f, ra, err := o.openPlanned(ctx, uri, version)
	if err != nil {
		return err
	}
	values := make([]string, len(columns))
	leaves, ok := keyColumns(f, columns)
	if !ok {
		return readParquetRows(ctx, f, ra, uri, c, func(line int64, obj map[string]any, err error) error {
			if err != nil {
				return fn(line, nil, false)
			}
			clear(values)
			for i, col := range columns {
				if v, found := lookupPath(obj, col); found {
					values[i] = scalarText(v)
				}
			}
			return fn(line, values, true)
		})
	}
	return eachGroupRun(f, uri, c, func(g int, from, count int64) error {
		line := groupStart(f, g) + from // the line before the run's first
		return readGroupKeys(ctx, f, ra, g, leaves, from, count, values, func(ok bool) error {
			line++
			return fn(line, values, ok)
		})
	})
}

// readGroupKeys reads count rows of the leaves of row group g, from its
// row from, into values, and calls fn for each row.
func readGroupKeys(ctx context.Context, f *parquet.File, ra *rangeReaderAt, g int, leaves []int, from, count int64, values []string, fn func(ok bool) error) (err error) {
	defer libraryPanic(ra, &err)
	meta := f.Metadata().RowGroups[g]
	chunks := f.RowGroups()[g].ColumnChunks()
	offsets := f.OffsetIndexes()
	limits := ra.o.limits()
	cols := make([]*columnValues, len(leaves))
	for i, leaf := range leaves {
		fc, ok := chunks[leaf].(*parquet.FileColumnChunk)
		if !ok {
			return fmt.Errorf("column %d of row group %d is not in the file", leaf+1, g)
		}
		md := meta.Columns[leaf].MetaData
		start := md.DataPageOffset
		if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
			start = md.DictionaryPageOffset
		}
		end := start + md.TotalCompressedSize
		// The library reads the pages from where the chunk starts, where
		// its data pages do, or where the offset index puts one: each
		// header is checked there first.
		starts := []int64{start, md.DataPageOffset}
		if k := g*len(chunks) + leaf; k < len(offsets) {
			for _, loc := range offsets[k].PageLocations {
				starts = append(starts, loc.Offset)
			}
		}
		node, _ := f.Schema().Lookup(f.Schema().Columns()[leaf]...)
		guard := newPageGuard(&windowReader{r: ra, end: end, window: 4 << 20}, end, columnOf(node.Node), limits,
			fmt.Sprintf("column %d of row group %d", leaf+1, g), &ra.problem, starts...)
		pages := fc.PagesFrom(guard)
		cols[i] = &columnValues{pages: pages, buf: make([]parquet.Value, 256), required: node.Node.Required()}
		defer cols[i].Close()
		if err := pages.SeekToRow(from); err != nil {
			return ra.saying(err)
		}
	}
	for r := int64(0); r < count; r++ {
		if r%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ok := true
		for i, c := range cols {
			v, err := c.next()
			if errors.Is(err, io.EOF) {
				return permErr(nil, "the Parquet file %s is malformed: column %d of row group %d ends at row %d of the %d its footer declares",
					Redact(ra.uri), leaves[i]+1, g, from+r, meta.NumRows)
			}
			if err != nil {
				return ra.saying(err)
			}
			if v.IsNull() && c.required {
				ok = false
			}
			values[i] = keyText(v)
		}
		if err := fn(ok); err != nil {
			return err
		}
	}
	return nil
}
