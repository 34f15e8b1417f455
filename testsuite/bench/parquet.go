package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// parquetRowGroup is the rows of a row group in the bench's Parquet lists:
// 1Mi, pyarrow's default.
const parquetRowGroup = 1 << 20

// toParquet writes the CSV list at csvPath as a Snappy-compressed Parquet
// file at path, as a warehouse would export it: a column a CSV column,
// "tags.Plan" a field of the group "tags", every value text (an empty cell
// is an empty string). A record with fewer fields than the header gets
// empty ones; the fields beyond it are dropped.
func toParquet(csvPath, path string) error {
	in, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	defer in.Close()
	r := csv.NewReader(in)
	r.FieldsPerRecord, r.LazyQuotes, r.ReuseRecord = -1, true, true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("read the header of %s: %w", csvPath, err)
	}
	header = append([]string(nil), header...)
	top := parquet.Group{}
	for _, col := range header {
		if group, field, nested := strings.Cut(col, "."); nested {
			g, _ := top[group].(parquet.Group)
			if g == nil {
				g = parquet.Group{}
				top[group] = g
			}
			g[field] = parquet.String()
			continue
		}
		top[col] = parquet.String()
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	w := parquet.NewGenericWriter[map[string]any](out, parquet.NewSchema("users", top),
		parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(parquetRowGroup))
	rows := make([]map[string]any, 0, 1024)
	flush := func() error {
		_, err := w.Write(rows)
		rows = rows[:0]
		return err
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.Close()
			return fmt.Errorf("read %s: %w", csvPath, err)
		}
		row := map[string]any{}
		for i, col := range header {
			v := ""
			if i < len(rec) {
				v = rec[i]
			}
			if group, field, nested := strings.Cut(col, "."); nested {
				g, _ := row[group].(map[string]any)
				if g == nil {
					g = map[string]any{}
					row[group] = g
				}
				g[field] = v
				continue
			}
			row[col] = v
		}
		if rows = append(rows, row); len(rows) == cap(rows) {
			if err := flush(); err != nil {
				out.Close()
				return err
			}
		}
	}
	if err := flush(); err != nil {
		out.Close()
		return err
	}
	if err := w.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// columnShare is the share of a Parquet file's bytes that its column
// (a leaf's dotted name) takes, and the file's size.
func columnShare(path, column string) (float64, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	var bytes int64
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if strings.Join(c.MetaData.PathInSchema, ".") == column {
				bytes += c.MetaData.TotalCompressedSize
			}
		}
	}
	return float64(bytes) / float64(st.Size()), st.Size(), nil
}
