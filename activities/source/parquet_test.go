package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

type parquetUser struct {
	EndUser    string `parquet:"end_user"`
	ActiveFrom string `parquet:"active_from"`
	Seats      int64  `parquet:"seats"`
	Trial      bool   `parquet:"trial"`
	Tags       struct {
		Plan    string `parquet:"Plan"`
		Country string `parquet:"Country"`
	} `parquet:"tags"`
}

// parquetList writes n users in row groups of at most perGroup rows.
func parquetList(t testing.TB, n, perGroup int, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[parquetUser](&b, append(opts, parquet.MaxRowsPerRowGroup(int64(perGroup)))...)
	for i := 0; i < n; i++ {
		u := parquetUser{EndUser: fmt.Sprintf("user%05d@example.com", i), ActiveFrom: "2025-01-02", Seats: int64(i % 50), Trial: i%2 == 0}
		u.Tags.Plan, u.Tags.Country = []string{"Free", "Pro"}[i%2], "DE"
		if _, err := w.Write([]parquetUser{u}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A Parquet file is planned from its footer into runs of rows of its row
// groups, each row read once as NDJSON would give it (nested groups as
// objects, numbers as json.Number); the scan plans the same chunks.
func TestParquetIsPlannedFromItsFooterAndReadRowByRow(t *testing.T) {
	data := parquetList(t, 450, 100)
	path := writeFile(t, "users.parquet", string(data))
	if f, _ := DetectFormat(path, ""); f != Parquet {
		t.Fatalf("format %q", f)
	}
	o := &Opener{}
	first, chunks := planAll(t, o, path, Parquet, 40, 3)
	if len(chunks) != 14 || !slices.Contains(first.Header, "tags.Plan") || !slices.Contains(first.Header, "end_user") {
		t.Fatalf("%d chunks (want 40, 40 and 20 rows in each of 4 groups of 100, and 40 and 10 in the last 50), header %v", len(chunks), first.Header)
	}
	recs := readAll(t, o, path, Parquet, first, chunks)
	if len(recs) != 450 {
		t.Fatalf("%d rows read, want 450", len(recs))
	}
	for i, r := range recs {
		tags, _ := r.Fields["tags"].(map[string]any)
		if r.Err != nil || r.Line != int64(i+1) || r.Fields["end_user"] != fmt.Sprintf("user%05d@example.com", i) ||
			r.Fields["seats"] != json.Number(fmt.Sprint(i%50)) || r.Fields["trial"] != (i%2 == 0) || tags["Plan"] != []string{"Free", "Pro"}[i%2] {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	whole, err := Whole(context.Background(), o, path, Parquet)
	if err != nil || len(whole.Chunks) != 1 || whole.Chunks[0].Rows != 450 {
		t.Fatalf("whole: %+v %v", whole, err)
	}
	var keys []string
	planned, err := ReadColumnsAndPlan(context.Background(), o, path, Parquet, whole.Header, whole.Version, whole.Chunks[0], []string{"end_user", "tags.Country"}, 40,
		func(_ int64, v []string, ok bool) error { keys = append(keys, v[0]+"/"+v[1]); return nil })
	if err != nil || !slices.Equal(planned, chunks) || len(keys) != 450 || keys[7] != "user00007@example.com/DE" {
		t.Fatalf("the scan planned %d chunks (%v), read %d keys (%v)", len(planned), err, len(keys), keys[:1])
	}
}

// A file whose footer is cut off is refused with a sentence, before a row
// is read.
func TestACorruptParquetFooterIsRefusedSayingSo(t *testing.T) {
	data := parquetList(t, 100, 50)
	path := writeFile(t, "cut.parquet", string(data[:len(data)-20]))
	_, err := Plan(context.Background(), &Opener{}, PlanRequest{URI: path, Format: Parquet, ChunkRows: 10, MaxChunks: 10}, nil)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "not a Parquet file that can be read") {
		t.Fatalf("a cut file: %v", err)
	}
	_ = os.Remove(path)
}

type parquetKinds struct {
	Name    string   `parquet:"name"`
	Raw     []byte   `parquet:"raw"`
	Small   int32    `parquet:"small"`
	Big     int64    `parquet:"big"`
	Flag    bool     `parquet:"flag"`
	Ratio   float32  `parquet:"ratio"`
	Score   float64  `parquet:"score"`
	Maybe   *string  `parquet:"maybe,optional"`
	Tiny    int8     `parquet:"tiny"`
	Emails  []string `parquet:"emails"`
	Account struct {
		ID    *int64 `parquet:"id,optional"`
		Email string `parquet:"email"`
	} `parquet:"account,optional"`
}

// The duplicate scan reads the key columns alone when it can, and must
// read the same text for each row as the chunks, which decode whole rows:
// otherwise a user would be superseded by a row with another key. Columns
// it cannot read alone (a list, a narrow integer, a name that is not a
// leaf) are read from whole rows.
func TestTheKeyScanReadsEachColumnAsTheRowsDo(t *testing.T) {
	var b bytes.Buffer
	w := parquet.NewGenericWriter[parquetKinds](&b, parquet.MaxRowsPerRowGroup(70), parquet.PageBufferSize(512))
	for i := 0; i < 300; i++ {
		r := parquetKinds{Name: fmt.Sprintf("user%03d", i), Raw: []byte(fmt.Sprintf("raw%d", i%7)), Small: int32(i - 150), Big: int64(i) << 40,
			Flag: i%3 == 0, Ratio: float32(i) / 7, Score: float64(i) * 1.25e-3, Tiny: int8(i % 100), Emails: []string{fmt.Sprintf("e%d@x.io", i)}}
		if i%4 != 0 {
			s := fmt.Sprintf("m%d", i)
			r.Maybe = &s
		}
		if i%5 != 0 {
			id := int64(i * 11)
			r.Account.ID = &id
		}
		r.Account.Email = fmt.Sprintf("acct%d@x.io", i%40)
		if _, err := w.Write([]parquetKinds{r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "kinds.parquet", b.String())
	ctx := context.Background()
	o := &Opener{}
	whole, err := Whole(ctx, o, path, Parquet)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
	for _, tc := range []struct {
		columns []string
		alone   bool
	}{
		{[]string{"name", "raw", "small", "big"}, true},
		{[]string{"flag", "ratio", "score", "maybe"}, true},
		{[]string{"account.id", "account.email", "name"}, true},
		{[]string{"tiny", "name"}, false},
		{[]string{"emails"}, false},
		{[]string{"account"}, false},
		{[]string{"nosuch", "name"}, false},
	} {
		if _, alone := keyColumns(f, tc.columns); alone != tc.alone {
			t.Errorf("%v read alone: %v, want %v", tc.columns, alone, tc.alone)
		}
		var want, got []string
		err := readParquet(ctx, o, path, whole.Version, whole.Chunks[0], func(line int64, obj map[string]any, err error) error {
			if err != nil {
				return err
			}
			var vals []string
			for _, col := range tc.columns {
				v, _ := lookupPath(obj, col)
				vals = append(vals, scalarText(v))
			}
			want = append(want, fmt.Sprint(line, vals))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = ReadColumns(ctx, o, path, Parquet, whole.Header, whole.Version, whole.Chunks[0], tc.columns, func(line int64, values []string, ok bool) error {
			if !ok {
				return fmt.Errorf("line %d not ok", line)
			}
			got = append(got, fmt.Sprint(line, values))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 300 || !slices.Equal(got, want) {
			t.Fatalf("%v: the scan read %d rows, the rows %d; first difference: %v", tc.columns, len(got), len(want), firstDiff(got, want))
		}
		// A part of the list, starting inside a row group, reads the same.
		part := Chunk{Offset: 101, Rows: 123, FirstLine: 102}
		var gotPart []string
		if err := ReadColumns(ctx, o, path, Parquet, whole.Header, whole.Version, part, tc.columns, func(line int64, values []string, ok bool) error {
			gotPart = append(gotPart, fmt.Sprint(line, values))
			return nil
		}); err != nil || !slices.Equal(gotPart, want[101:224]) {
			t.Fatalf("%v, rows 102 to 224: %v; first difference: %v", tc.columns, err, firstDiff(gotPart, want[101:224]))
		}
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %q, want %q", got[i], want[i])
		}
	}
	return fmt.Sprintf("%d rows against %d", len(got), len(want))
}

// An import reads a Parquet list about once: the duplicate scan reads the
// key column's chunks and nothing else, and the chunks, eight at a time on
// one worker, read each page once, although their pages (64 KiB, thousands of rows
// each) straddle the chunks' edges and some hold more rows than a chunk.
func TestAParquetListIsReadAboutOnce(t *testing.T) {
	body := parquetList(t, 120000, 50000, parquet.PageBufferSize(64<<10))
	f, _ := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	var keyBytes int64
	for _, rg := range f.Metadata().RowGroups {
		keyBytes += rg.Columns[0].MetaData.TotalCompressedSize // end_user
	}
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(&countingWriter{ResponseWriter: w, n: &sent}, r, "users.parquet", time.Now().Truncate(time.Hour), bytes.NewReader(body))
	}))
	defer srv.Close()
	uri, ctx, o := srv.URL+"/users.parquet", context.Background(), &Opener{}

	whole, err := Whole(ctx, o, uri, Parquet)
	if err != nil {
		t.Fatal(err)
	}
	footer := sent.Swap(0)
	keys := 0
	chunks, err := ReadColumnsAndPlan(ctx, o, uri, Parquet, whole.Header, whole.Version, whole.Chunks[0], []string{"end_user"}, 5000,
		func(_ int64, v []string, ok bool) error {
			if ok && v[0] == fmt.Sprintf("user%05d@example.com", keys) {
				keys++
			}
			return nil
		})
	if err != nil || keys != 120000 {
		t.Fatalf("the scan read %d keys in order: %v", keys, err)
	}
	scan := sent.Swap(0)
	// Eight chunks in flight, as an import runs them.
	var rows atomic.Int64
	if err := eightAtATime(chunks, func(c Chunk) error {
		return ReadChunk(ctx, o, uri, Parquet, whole.Header, whole.Version, c, func(r Record) error {
			if r.Err == nil && r.Fields["end_user"] == fmt.Sprintf("user%05d@example.com", r.Line-1) {
				rows.Add(1)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	read := sent.Swap(0)
	size := int64(len(body))
	t.Logf("%d bytes, the key column %d: footer %d, scan %d (%.2f of the key column), %d chunks %d (%.3f of the file)",
		size, keyBytes, footer, scan, float64(scan)/float64(keyBytes), len(chunks), read, float64(read)/float64(size))
	if rows.Load() != 120000 {
		t.Fatalf("the chunks read %d rows at their lines", rows.Load())
	}
	if scan > keyBytes+footer {
		t.Errorf("the scan read %d bytes; the key column is %d", scan, keyBytes)
	}
	if read > size*101/100 {
		t.Errorf("%d chunks read %d bytes of a %d-byte file, %.2f times", len(chunks), read, size, float64(read)/float64(size))
	}
}

type parquetPlanned struct {
	parquetKinds
	Plan string `parquet:"plan,dict"`
}

// A file without an offset index (pyarrow, for one, leaves it out by
// default) reads the same rows: each column chunk's pages are found from
// their headers once, and a chunk reads only its own pages; a list column
// (whose version 1 pages do not say their rows) is read from its start.
func TestAParquetFileWithoutOffsetIndexReadsTheSameRows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		write     func(w io.Writer)
		most      float64 // bytes the chunks read ÷ size, at most
		chunkRows int64
	}{
		{"kinds", func(w io.Writer) {
			pw := parquet.NewGenericWriter[parquetPlanned](w, parquet.MaxRowsPerRowGroup(500), parquet.PageBufferSize(1024))
			for i := 0; i < 1200; i++ {
				r := parquetPlanned{Plan: []string{"Free", "Pro", "Team"}[i%3]}
				r.Name, r.Small, r.Score, r.Emails = fmt.Sprintf("user%04d", i), int32(i), float64(i)/3, []string{fmt.Sprint(i), "x"}[:1+i%2]
				if i%3 != 0 {
					s := fmt.Sprint("m", i)
					r.Maybe = &s
				}
				if _, err := pw.Write([]parquetPlanned{r}); err != nil {
					t.Fatal(err)
				}
			}
			if err := pw.Close(); err != nil {
				t.Fatal(err)
			}
		}, 0, 170}, // a list column is read from its start: no bound
		{"flat", func(w io.Writer) {
			// 60,000 rows a group: the key column's chunks are over
			// walkWhole, and their pages are found header by header.
			pw := parquet.NewGenericWriter[parquetUser](w, parquet.MaxRowsPerRowGroup(60000), parquet.PageBufferSize(64<<10))
			for i := 0; i < 130000; i++ {
				u := parquetUser{EndUser: fmt.Sprintf("user%07d@example.com", i), Seats: int64(i % 50)}
				if _, err := pw.Write([]parquetUser{u}); err != nil {
					t.Fatal(err)
				}
			}
			if err := pw.Close(); err != nil {
				t.Fatal(err)
			}
		}, 1.03, 1700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.write(&b)
			body := b.Bytes()
			var sent atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(&countingWriter{ResponseWriter: w, n: &sent}, r, "list.parquet", time.Now().Truncate(time.Hour), bytes.NewReader(body))
			}))
			defer srv.Close()
			ctx := context.Background()
			read := func(bare bool) (out []string) {
				o := &Opener{} // a worker of its own
				f, ra, err := o.openParquet(ctx, srv.URL+"/list.parquet")
				if err != nil {
					t.Fatal(err)
				}
				if bare {
					if f, err = parquet.OpenFile(ra, ra.want.Size, parquet.SkipPageIndex(true), parquet.ReadBufferSize(parquetReadBuffer)); err != nil || len(f.OffsetIndexes()) != 0 {
						t.Fatalf("%v: %d offset indexes", err, len(f.OffsetIndexes()))
					}
				} else if len(f.OffsetIndexes()) == 0 {
					t.Fatal("the file has no offset index")
				}
				sent.Store(0)
				for g, rg := range f.RowGroups() {
					for from := int64(0); from < rg.NumRows(); from += tc.chunkRows {
						err := readRowGroup(ctx, f, ra, g, from, min(tc.chunkRows, rg.NumRows()-from), make([]parquet.Row, 16), func(obj map[string]any, err error) error {
							out = append(out, fmt.Sprint(obj, err))
							return nil
						})
						if err != nil {
							t.Fatalf("without the index %v, row group %d, rows %d+: %v", bare, g, from, err)
						}
					}
				}
				return out
			}
			with := read(false)
			without := read(true)
			ratio := float64(sent.Load()) / float64(len(body))
			t.Logf("%d rows; without the index the chunks read %.3f times the file", len(with), ratio)
			if len(with) == 0 || !slices.Equal(with, without) || !strings.Contains(with[1], "user") {
				t.Fatalf("%d rows with the index, %d without; %v", len(with), len(without), firstDiff(without, with))
			}
			if tc.most > 0 && ratio > tc.most {
				t.Errorf("without the index the chunks read %.2f times the file; at most %.2f", ratio, tc.most)
			}
		})
	}
}

// withoutPageIndex rewrites a Parquet file's footer without its page index,
// as writers that leave it out (pyarrow's default) write it.
func withoutPageIndex(t testing.TB, data []byte) []byte {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	footer := data[len(data)-8-n : len(data)-8]
	var md format.FileMetaData
	if err := thrift.Unmarshal(&thrift.CompactProtocol{}, footer, &md); err != nil {
		t.Fatal(err)
	}
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			c := &md.RowGroups[i].Columns[j]
			c.OffsetIndexOffset, c.OffsetIndexLength, c.ColumnIndexOffset, c.ColumnIndexLength = 0, 0, 0, 0
		}
	}
	b, err := thrift.Marshal(&thrift.CompactProtocol{}, &md)
	if err != nil {
		t.Fatal(err)
	}
	out := append(slices.Clip(data[:len(data)-8-n]), b...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
	return append(out, "PAR1"...)
}

type parquetRandom struct {
	Name  string   `parquet:"name"`
	Count *int64   `parquet:"count,optional"`
	Plan  string   `parquet:"plan,dict"`
	List  []string `parquet:"list"`
	Tags  struct {
		A string  `parquet:"a"`
		B *string `parquet:"b,optional"`
	} `parquet:"tags"`
}

// Whatever the row groups, pages (version 1 or 2) and chunks, with the
// offset index or without it, on one worker or one worker a chunk, chunks read in any
// order and eight at a time give every row once, as the library itself
// reads the file.
func TestParquetChunksReadEveryRowAsTheLibraryDoes(t *testing.T) {
	for seed := int64(1); seed <= 12; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		n := 1 + r.IntN(4000)
		rows := make([]parquetRandom, n)
		for i := range rows {
			x := &rows[i]
			x.Name, x.Plan = fmt.Sprintf("user%05d-%s", i, strings.Repeat("x", r.IntN(40))), []string{"Free", "Pro", "Team"}[r.IntN(3)]
			if r.IntN(4) > 0 {
				c := int64(r.IntN(1000))
				x.Count = &c
			}
			for range r.IntN(3) {
				x.List = append(x.List, fmt.Sprint(r.IntN(100)))
			}
			x.Tags.A = fmt.Sprint("a", i%17)
			if r.IntN(3) == 0 {
				b := fmt.Sprint("b", i)
				x.Tags.B = &b
			}
		}
		var b bytes.Buffer
		if err := parquet.Write(&b, rows, parquet.MaxRowsPerRowGroup(int64(1+r.IntN(1500))), parquet.PageBufferSize(256+r.IntN(8192)), parquet.DataPageVersion(1+r.IntN(2))); err != nil {
			t.Fatal(err)
		}
		want, err := parquet.Read[parquetRandom](bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil || len(want) != n {
			t.Fatalf("the library read %d rows of %d: %v", len(want), n, err)
		}
		chunkRows := 1 + r.IntN(700)
		for _, bare := range []bool{false, true} {
			data := b.Bytes()
			if bare {
				data = withoutPageIndex(t, data)
			}
			path := writeFile(t, fmt.Sprintf("random-%d-%v.parquet", seed, bare), string(data))
			shared := &Opener{}
			first, chunks := planAll(t, shared, path, Parquet, chunkRows, 50)
			if f, _, err := shared.openParquet(context.Background(), path); err != nil || (len(f.OffsetIndexes()) == 0) != bare {
				t.Fatalf("seed %d: without the index %v, %d offset indexes (%v)", seed, bare, len(f.OffsetIndexes()), err)
			}
			r.Shuffle(len(chunks), func(i, j int) { chunks[i], chunks[j] = chunks[j], chunks[i] })
			perChunk := r.IntN(2) == 0
			got := make([]map[string]any, n)
			var mu sync.Mutex
			err := eightAtATime(chunks, func(c Chunk) error {
				o := shared
				if perChunk {
					o = &Opener{}
				}
				return ReadChunk(context.Background(), o, path, Parquet, first.Header, first.Version, c, func(rec Record) error {
					if rec.Err != nil {
						return rec.Err
					}
					mu.Lock()
					defer mu.Unlock()
					if got[rec.Line-1] != nil {
						return fmt.Errorf("line %d read twice", rec.Line)
					}
					got[rec.Line-1] = rec.Fields
					return nil
				})
			})
			if err != nil {
				t.Fatalf("seed %d, without the index %v, chunks of %d: %v", seed, bare, chunkRows, err)
			}
			for i, w := range want {
				if !rowMatches(got[i], w) {
					t.Fatalf("seed %d, without the index %v, chunks of %d, line %d: read %s, the library %+v", seed, bare, chunkRows, i+1, got[i], w)
				}
			}
		}
	}
}

// rowMatches says whether a row read as an object holds the values of
// the library's row.
func rowMatches(got map[string]any, w parquetRandom) bool {
	tags, _ := got["tags"].(map[string]any)
	if got["name"] != w.Name || got["plan"] != w.Plan || tags["a"] != w.Tags.A {
		return false
	}
	if (w.Count == nil) != (got["count"] == nil) || w.Count != nil && got["count"] != json.Number(fmt.Sprint(*w.Count)) {
		return false
	}
	if (w.Tags.B == nil) != (tags["b"] == nil) || w.Tags.B != nil && tags["b"] != *w.Tags.B {
		return false
	}
	list, _ := got["list"].([]any)
	if len(list) != len(w.List) {
		return false
	}
	for i, v := range list {
		if v != w.List[i] {
			return false
		}
	}
	return true
}

// eightAtATime reads chunks eight at a time, as an import runs them, and
// returns the first error.
func eightAtATime(chunks []Chunk, read func(Chunk) error) error {
	var wg sync.WaitGroup
	slots, errs := make(chan struct{}, 8), make(chan error, len(chunks))
	for _, c := range chunks {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs <- read(c)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
