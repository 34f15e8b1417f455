//go:build linux

package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// malformedParquet is a Parquet file made to declare more than it holds.
type malformedParquet struct {
	name   string
	file   []byte
	limits Limits
	// footer: planning, the whole-file plan and both readers refuse it;
	// otherwise planning reads it, and the readers refuse it.
	footer bool
	want   []string // in each refusal, "X" standing for the source
}

// craftedParquet is a Parquet file of no pages and the given footer.
func craftedParquet(footer []byte) []byte {
	b := append([]byte("PAR1"), footer...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(footer)))
	return append(b, "PAR1"...)
}

// withFooterLength is data with its footer's length field set to n.
func withFooterLength(data []byte, n uint32) []byte {
	out := bytes.Clone(data)
	binary.LittleEndian.PutUint32(out[len(out)-8:], n)
	return out
}

// withPage is data with the first page of its first column chunk replaced
// by header (padded with zeros to the page's length).
func withPage(t testing.TB, data []byte, header []byte) []byte {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	loc := f.OffsetIndexes()[0].PageLocations[0]
	if len(header) > int(loc.CompressedPageSize) {
		t.Fatalf("a header of %d bytes for a page of %d", len(header), loc.CompressedPageSize)
	}
	out := bytes.Clone(data)
	region := out[loc.Offset : loc.Offset+int64(loc.CompressedPageSize)]
	clear(region)
	copy(region, header)
	return out
}

// pageHeader encodes a page header, in which the bytes of the statistics'
// largest value, if any, declare long bytes instead.
func pageHeader(t testing.TB, h format.PageHeader, long uint32) []byte {
	t.Helper()
	b, err := thrift.Marshal(&thrift.CompactProtocol{}, &h)
	if err != nil {
		t.Fatal(err)
	}
	if long == 0 {
		return b
	}
	largest := h.DataPageHeader.V.Statistics.MaxValue
	i := bytes.Index(b, append([]byte{byte(len(largest))}, largest...))
	return append(append(bytes.Clone(b[:i]), binary.AppendUvarint(nil, uint64(long))...), b[i+1:]...)
}

// malformedParquets are the files of TestAMalformedParquetFileIsRefusedBeforeItIsDecoded,
// the same each time they are made.
func malformedParquets(t testing.TB) []malformedParquet {
	nineteen, _ := hex.DecodeString("50415231" + "29fcffffffff07" + "07000000" + "50415231")
	real := parquetList(t, 450, 100)
	realFooter := int(binary.LittleEndian.Uint32(real[len(real)-8:]))
	cut := append(bytes.Clone(real[:len(real)-8-realFooter+realFooter/2]), real[len(real)-8:]...) // the footer's first half
	cut = withFooterLength(cut, uint32(realFooter/2))

	version := []byte{0x15, 0x02}                                    // 1: version, i32 1
	schema := []byte{0x19, 0x1c, 0x48, 0x01, 'r', 0x00}              // 2: schema, a list of one element named "r"
	rows := []byte{0x16, 0x00}                                       // 3: num_rows, i64 0
	allRowGroups := []byte{0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07} // 4: row_groups, a list of 2^31-1
	var deep []byte
	deep = append(deep, version...)
	for range 100 {
		deep = append(deep, 0x1c) // field 1 (after 0) of the struct inside: a struct
	}
	deep = append(deep, make([]byte, 101)...)
	// One row group of 500,000 column chunks, each 3 bytes (file_offset
	// 0): 280 MB once decoded.
	wide := append(bytes.Clone(version), schema...)
	wide = append(wide, rows...)
	wide = append(wide, 0x19, 0x1c, 0x19, 0xfc)                             // row_groups: one; its columns: a list of
	wide = append(wide, binary.AppendUvarint(nil, 500_000)...)              // 500,000 structures,
	wide = append(wide, bytes.Repeat([]byte{0x26, 0x00, 0x00}, 500_000)...) // each file_offset 0
	wide = append(wide, 0x00, 0x00)

	md := footerOf(t, real)
	oi := md.RowGroups[0].Columns[0]
	hugeIndex := bytes.Clone(real)
	copy(hugeIndex[oi.OffsetIndexOffset:], []byte{0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07})
	indexLeft := int(oi.OffsetIndexLength) - 7

	page := func(compressed, values int32, long uint32) []byte {
		h := format.PageHeader{Type: format.DataPage, UncompressedPageSize: 16, CompressedPageSize: compressed}
		h.DataPageHeader.Valid = true
		h.DataPageHeader.V.NumValues = values
		h.DataPageHeader.V.Statistics.MaxValue = []byte("user00099@example.com")
		return withPage(t, real, pageHeader(t, h, long))
	}
	return []malformedParquet{
		{name: "nineteen bytes declaring 2^31-1 schema elements", file: nineteen, footer: true,
			want: []string{"the Parquet footer of X is malformed: a list declares 2147483647 elements with 0 bytes left"}},
		{name: "a name of 2^31-1 bytes", file: craftedParquet(append(bytes.Clone(version), 0x19, 0x1c, 0x48, 0xff, 0xff, 0xff, 0xff, 0x07, 'a', 'b', 'c')), footer: true,
			want: []string{"the Parquet footer of X is malformed: a string declares 2147483647 bytes with 3 bytes left"}},
		{name: "2^31-1 row groups", file: craftedParquet(append(append(append(bytes.Clone(version), schema...), rows...), allRowGroups...)), footer: true,
			want: []string{"the Parquet footer of X is malformed: a list declares 2147483647 elements with 0 bytes left"}},
		{name: "a footer cut in half", file: cut, footer: true,
			want: []string{"the Parquet footer of X is malformed: "}},
		{name: "a footer longer than the file", file: withFooterLength(real, 0xfffffff0), footer: true,
			want: []string{fmt.Sprintf("the Parquet footer of X is malformed: it declares 4294967280 bytes in a file of %d", len(real))}},
		{name: "a footer over the cap", file: real, limits: Limits{MaxParquetFooter: 1000}, footer: true,
			want: []string{fmt.Sprintf("the Parquet footer of X is %d bytes, more than the 1000 a worker reads (IMPORTER_PARQUET_MAX_FOOTER)", realFooter)}},
		{name: "structures nested 100 deep", file: craftedParquet(deep), footer: true,
			want: []string{"the Parquet footer of X is malformed: its structures nest deeper than 64 levels"}},
		{name: "500,000 column chunks in 1.5 MB", file: craftedParquet(wide), footer: true,
			want: []string{"the Parquet footer of X would take more than 268435456 bytes of memory decoded, 4 times IMPORTER_PARQUET_MAX_FOOTER"}},
		{name: "an offset index of 2^31-1 pages", file: hugeIndex, footer: true,
			want: []string{fmt.Sprintf("the Parquet offset index of column 1 in row group 0 of X is malformed: a list declares 2147483647 elements with %d bytes left", indexLeft)}},
		{name: "a page of 2^31-1 bytes", file: page(math.MaxInt32, 100, 0),
			want: []string{"in column 1 of row group 0, the page header at byte 4 is malformed: it declares a page of 2147483647 bytes with "}},
		{name: "a page of 2^31-1 values", file: page(64, math.MaxInt32, 0),
			want: []string{"in column 1 of row group 0, the page at byte 4 would take ", " (2147483647 values, 16 bytes uncompressed), more than the 67108864 a chunk may hold (IMPORTER_MAX_CHUNK_BYTES)"}},
		{name: "a page header with a statistic of 2^31-1 bytes", file: page(64, 100, math.MaxInt32),
			want: []string{"in column 1 of row group 0, the page header at byte 4 is malformed: a string declares 2147483647 bytes with "}},
		{name: "a page of 2^31-1 bytes, without the page index", file: withoutPageIndex(t, page(math.MaxInt32, 100, 0)),
			want: []string{"in column 1 of row group 0, the page header at byte 4 is malformed: it declares a page of 2147483647 bytes with "}},
	}
}

const malformedEnv = "SOURCE_TEST_MALFORMED_PARQUET"

// A Parquet file that declares more than it holds is refused with one
// sentence before the Parquet library decodes a byte of what declares it:
// the library allocates what a footer, a page index or a page header
// declares before it reads it, and the 19-byte file whose footer claims
// 2^31-1 schema elements used to end the worker ("fatal error: runtime: out
// of memory"). Each file is read, by planning, the whole-file plan, the
// duplicate scan and a chunk, in a process of its own limited to 1 GiB of
// address space, as a worker with that much memory: the process must
// survive and allocate little.
func TestAMalformedParquetFileIsRefusedBeforeItIsDecoded(t *testing.T) {
	if name := os.Getenv(malformedEnv); name != "" {
		readMalformedParquet(t, name)
		return
	}
	for _, tc := range malformedParquets(t) {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAMalformedParquetFileIsRefusedBeforeItIsDecoded$", "-test.v")
			cmd.Env = append(os.Environ(), malformedEnv+"="+tc.name)
			out, err := cmd.CombinedOutput()
			if err != nil {
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				t.Fatalf("the reading process died (%v):\n%s", err, strings.Join(lines[:min(len(lines), 12)], "\n"))
			}
			paths := map[string]string{}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "\t"); ok {
					paths[k] = v
				}
			}
			refused := []string{"read chunk", "scan"}
			if tc.footer {
				refused = append(refused, "plan", "whole")
			}
			for _, p := range refused {
				got, ok := paths[p]
				if !ok {
					t.Fatalf("%s: no result:\n%s", p, out)
				}
				if !strings.HasPrefix(got, "permanent ") {
					t.Errorf("%s: %s; want a permanent error", p, got)
				}
				for _, w := range tc.want {
					if !strings.Contains(got, w) {
						t.Errorf("%s: %s\nwant it to say %q", p, got, w)
					}
				}
			}
			if mib, err := strconv.Atoi(paths["allocated"]); err != nil || mib > 32 {
				t.Errorf("reading it allocated %s MiB", paths["allocated"])
			}
		})
	}
}

// readMalformedParquet reads the named file in this (child) process,
// limited to 1 GiB of address space, and prints each path's error, the
// source named X, and the MiB allocated.
func readMalformedParquet(t *testing.T, name string) {
	limit := syscall.Rlimit{Cur: 1 << 30, Max: 1 << 30}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &limit); err != nil {
		t.Fatal(err)
	}
	var tc malformedParquet
	for _, c := range malformedParquets(t) {
		if c.name == name {
			tc = c
		}
	}
	path := writeFile(t, "malformed.parquet", string(tc.file))
	ctx, o := context.Background(), &Opener{Limits: tc.limits}
	v, err := o.Stat(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	from := allocated()
	say := func(what string, err error) {
		s := "nil"
		if err != nil {
			s = strings.ReplaceAll(err.Error(), path, "X")
			if errors.Is(err, ErrPermanent) {
				s = "permanent " + s
			}
		}
		fmt.Printf("%s\t%s\n", what, s)
	}
	_, err = Plan(ctx, o, PlanRequest{URI: path, Format: Parquet, ChunkRows: 100, MaxChunks: 10}, nil)
	say("plan", err)
	_, err = Whole(ctx, o, path, Parquet)
	say("whole", err)
	chunk := Chunk{Rows: 100, FirstLine: 1}
	say("read chunk", ReadChunk(ctx, o, path, Parquet, nil, v, chunk, func(Record) error { return nil }))
	say("scan", ReadColumns(ctx, o, path, Parquet, nil, v, chunk, []string{"end_user"}, func(int64, []string, bool) error { return nil }))
	fmt.Printf("allocated\t%d\n", (allocated()-from)>>20)
}
