package source

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits are the caps on what a list may make a worker hold while it is
// planned and read: no list file, however it is made, can exhaust a worker.
// A zero field is its default. An Opener reads with its Limits; planning,
// the duplicate scan and the chunks all read through one.
type Limits struct {
	// MaxColumns bounds the columns of a list: a CSV header's, the fields
	// of one NDJSON object (nested objects' fields counted one by one,
	// as their dotted names), a Parquet schema's leaf columns. A list with
	// more fails the import (IMPORTER_MAX_COLUMNS; default 1,000).
	MaxColumns int
	// MaxNesting bounds how deep an NDJSON row nests objects and lists (a
	// deeper row is a reject), and a Parquet schema its groups (a deeper
	// schema fails the import) (IMPORTER_MAX_NESTING; default 32).
	MaxNesting int
	// MaxHeaderBytes bounds a CSV header row; a longer one fails the
	// import (IMPORTER_MAX_HEADER_BYTES; default and at most 1 MiB, the
	// bound on any record, MaxRecordBytes).
	MaxHeaderBytes int
	// MaxChunkBytes bounds a chunk's bytes: planning ends a chunk once its
	// records reach it, even with fewer rows than asked, so a wide list
	// gets fewer rows a chunk (a Parquet chunk counts its row group's
	// uncompressed bytes, pro rata). It also bounds what one Parquet page
	// may take to decode (IMPORTER_MAX_CHUNK_BYTES; default 64 MiB).
	MaxChunkBytes int64
	// MaxParquetFooter bounds a Parquet file's footer, and its page index,
	// each; decoded, each may take at most 4 times as much memory
	// (IMPORTER_PARQUET_MAX_FOOTER; default 64 MiB).
	MaxParquetFooter int64
}

// Defaults of Limits.
const (
	DefaultMaxColumns       = 1_000
	DefaultMaxNesting       = 32
	DefaultMaxHeaderBytes   = MaxRecordBytes
	DefaultMaxChunkBytes    = 64 << 20
	DefaultMaxParquetFooter = 64 << 20
)

// footerMemory is how many times its size a Parquet footer, or page index,
// may take decoded.
const footerMemory = 4

// WithDefaults fills the zero fields with their defaults, and holds
// MaxHeaderBytes to MaxRecordBytes.
func (l Limits) WithDefaults() Limits {
	if l.MaxColumns <= 0 {
		l.MaxColumns = DefaultMaxColumns
	}
	if l.MaxNesting <= 0 {
		l.MaxNesting = DefaultMaxNesting
	}
	if l.MaxHeaderBytes <= 0 || l.MaxHeaderBytes > MaxRecordBytes {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxChunkBytes <= 0 {
		l.MaxChunkBytes = DefaultMaxChunkBytes
	}
	if l.MaxParquetFooter <= 0 {
		l.MaxParquetFooter = DefaultMaxParquetFooter
	}
	return l
}

// LimitsFromEnv reads the caps an operator set (IMPORTER_MAX_COLUMNS,
// IMPORTER_MAX_NESTING, IMPORTER_MAX_HEADER_BYTES, IMPORTER_MAX_CHUNK_BYTES,
// IMPORTER_PARQUET_MAX_FOOTER) and fills the rest with defaults. A value
// that is not a positive whole number (underscores allowed: 64_000_000), or
// a header cap over MaxRecordBytes, is an error that names its variable.
func LimitsFromEnv(getenv func(string) string) (Limits, error) {
	var l Limits
	for _, v := range []struct {
		name string
		to   func(int64)
		most int64
	}{
		{"IMPORTER_MAX_COLUMNS", func(n int64) { l.MaxColumns = int(n) }, 1 << 30},
		{"IMPORTER_MAX_NESTING", func(n int64) { l.MaxNesting = int(n) }, 1 << 20},
		{"IMPORTER_MAX_HEADER_BYTES", func(n int64) { l.MaxHeaderBytes = int(n) }, MaxRecordBytes},
		{"IMPORTER_MAX_CHUNK_BYTES", func(n int64) { l.MaxChunkBytes = n }, 1 << 40},
		{"IMPORTER_PARQUET_MAX_FOOTER", func(n int64) { l.MaxParquetFooter = n }, 1 << 32},
	} {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil || n <= 0 {
			return Limits{}, fmt.Errorf("%s=%q: want a positive whole number", v.name, s)
		}
		if n > v.most {
			return Limits{}, fmt.Errorf("%s=%q: at most %d", v.name, s, v.most)
		}
		v.to(n)
	}
	return l.WithDefaults(), nil
}

// limits are the Opener's Limits with their defaults (the defaults for a
// nil Opener).
func (o *Opener) limits() Limits {
	if o == nil {
		return Limits{}.WithDefaults()
	}
	return o.Limits.WithDefaults()
}
