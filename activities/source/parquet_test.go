package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
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
func parquetList(t testing.TB, n, perGroup int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[parquetUser](&b, parquet.MaxRowsPerRowGroup(int64(perGroup)))
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
