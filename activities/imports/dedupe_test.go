package imports

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/mapping"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/activities/vendors"
	"importer/activities/vendors/gen"
	"importer/internal/fsname"
)

// The duplicate scan reads only the key columns and makes the key with
// keyOf; the import makes it with build. If they ever disagreed, a user in
// two rows would be sent twice, or a row would be rejected as a duplicate
// of someone else.
func TestScanKeyIsTheKeyTheImportUses(t *testing.T) {
	extra := map[string]string{
		"nebuly":    "  spaced@x.io ,2026-01-01,,Pro,DE,x\n,2026-01-01,,Pro,DE,no key\n",
		"bitlabs":   " u-spaced ,DE,de,1990-01-01,MALE,12345\n",
		"userpilot": " up-spaced ,c1,Pro,3,true\n",
		"dynamic":   ",UPPER@Example.COM,A,B,DE,u1,Pro,1\n 6a1c2f1e-0000-4000-8000-000000000099 ,x@y.io,A,B,DE,u2,Pro,1\n,,A,B,DE,u3,Pro,1\n",
	}
	for _, name := range vendors.ImportNames() {
		t.Run(name, func(t *testing.T) {
			v, _ := vendors.Import(name)
			path := filepath.Join(t.TempDir(), "list.csv")
			if _, err := gen.VendorFile(name, path, gen.Options{Rows: 300, InvalidEvery: 7}); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.WriteString(extra[name])
			f.Close()
			checkScanKeys(t, v, path, mapping.Mapping{})
		})
	}
	t.Run("mapped column and constant", func(t *testing.T) {
		v, _ := vendors.Import("nebuly")
		path := filepath.Join(t.TempDir(), "m.csv")
		if err := os.WriteFile(path, []byte("mail,since\na@x.io,2026-01-01\n,2026-01-01\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		checkScanKeys(t, v, path, mapping.Mapping{Fields: map[string]string{"end_user": "mail", "active_from": "since"}, Constants: map[string]string{"end_user": "fallback@x.io"}})
	})
}

func checkScanKeys(t *testing.T, v vendorapi.Vendor, path string, m mapping.Mapping) {
	t.Helper()
	ctx := context.Background()
	o := &source.Opener{}
	page, err := source.Plan(ctx, o, source.PlanRequest{URI: path, Format: source.CSV, ChunkRows: math.MaxInt32, MaxChunks: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	built := map[int64]string{}
	if err := source.ReadChunk(ctx, o, path, source.CSV, page.Header, page.Version, page.Chunks[0], func(r source.Record) error {
		if r.Err == nil {
			key, _, _ := v.NewRows(1).Add(m.Apply(r.Fields))
			built[r.Line] = key
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	scan, err := scanDuplicates(ctx, o, v, source.Ref{URI: path, Format: source.CSV}, m, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if scan.rows != int64(len(built)) {
		t.Fatalf("the scan read %d rows, the import %d", scan.rows, len(built))
	}
	// No list here repeats a user, so the scan must find no duplicates;
	// and the keys it would compare must be the import's, line by line.
	if len(scan.lines) != 0 {
		t.Fatalf("duplicates %v in a list without any", scan.lines)
	}
	n := 0
	fields := v.Spec().KeyFields
	columns := make([]string, len(fields))
	for i, f := range fields {
		columns[i] = f
		if c, ok := m.Fields[f]; ok {
			columns[i] = c
		}
	}
	err = source.ReadColumns(ctx, o, path, source.CSV, page.Header, page.Version, page.Chunks[0], columns, func(line int64, values []string, ok bool) error {
		for i, f := range fields {
			if c := m.Constants[f]; c != "" && values[i] == "" {
				values[i] = c
			}
		}
		if got, want := v.KeyOf(values), built[line]; got != want {
			return fmt.Errorf("line %d: the scan's key %q, the import's %q", line, got, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(built) {
		t.Fatalf("compared %d keys of %d rows", n, len(built))
	}
}

func TestScanFindsAUserInTwoRowsAndTheLastWins(t *testing.T) {
	v, _ := vendors.Import("dynamic")
	path := filepath.Join(t.TempDir(), "d.csv")
	csv := "id,email\n" +
		",a@x.io\n" + // line 2
		",b@x.io\n" +
		",A@X.IO \n" + // line 4: the same user as line 2
		"6a1c2f1e-0000-4000-8000-000000000001,c@x.io\n" +
		"6a1c2f1e-0000-4000-8000-000000000001,other@x.io\n" // line 6: the same id as line 5
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	scan, err := scanDuplicates(context.Background(), &source.Opener{}, v, source.Ref{URI: path, Format: source.CSV}, mapping.Mapping{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []supersededLine{{line: 2, by: 4}, {line: 5, by: 6}}
	if fmt.Sprint(scan.lines) != fmt.Sprint(want) {
		t.Fatalf("superseded %v, want %v", scan.lines, want)
	}
}

// BenchmarkScanDuplicates measures the scan an import pays before its first
// chunk, per row of a Nebuly list.
//
//	go test ./activities -run x -bench ScanDuplicates
func BenchmarkScanDuplicates(b *testing.B) {
	path := filepath.Join(b.TempDir(), "u.csv")
	if _, err := gen.VendorFile("nebuly", path, gen.Options{Rows: 200_000, InvalidEvery: 1000, QuotedNewlineEvery: 100}); err != nil {
		b.Fatal(err)
	}
	v, _ := vendors.Import("nebuly")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := scanDuplicates(context.Background(), &source.Opener{}, v, source.Ref{URI: path, Format: source.CSV}, mapping.Mapping{}, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200_000, "ns/row")
}

// Users whose rows are spread over the list, some in three rows, are each
// kept once (the last row) whatever bucket their key falls in, in a CSV
// list and in the same list as Parquet (whose row count sizes the buckets
// ahead).
func TestScanSupersedesEveryEarlierRowOfAUser(t *testing.T) {
	v, _ := vendors.Import("nebuly")
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("end_user,active_from\n")
	type row struct {
		EndUser    string `parquet:"end_user"`
		ActiveFrom string `parquet:"active_from"`
	}
	var rows []row
	last := map[string]int64{}
	for i := 0; i < 6000; i++ {
		user := fmt.Sprintf("u%d@x.io", i*7%4000) // 2,000 users in two rows, the others in one
		if i%500 == 0 {
			user = "thrice@x.io"
		}
		fmt.Fprintf(&csv, "%s,2025-01-01\n", user)
		rows = append(rows, row{user, "2025-01-01"})
	}
	var want []supersededLine
	for i := len(rows) - 1; i >= 0; i-- {
		if by, ok := last[rows[i].EndUser]; ok {
			want = append(want, supersededLine{line: int64(i + 2), by: by})
		} else {
			last[rows[i].EndUser] = int64(i + 2)
		}
	}
	slices.SortFunc(want, func(a, b supersededLine) int { return cmp.Compare(a.line, b.line) })
	csvPath := filepath.Join(dir, "u.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	scan, err := scanDuplicates(context.Background(), &source.Opener{}, v, source.Ref{URI: csvPath, Format: source.CSV}, mapping.Mapping{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 2000 || !slices.Equal(scan.lines, want) {
		t.Fatalf("CSV: %d superseded rows, want %d", len(scan.lines), len(want))
	}
	// In Parquet a row is named by its number: line - 1.
	var b bytes.Buffer
	if err := parquet.Write(&b, rows, parquet.MaxRowsPerRowGroup(1000)); err != nil {
		t.Fatal(err)
	}
	pqPath := filepath.Join(dir, "u.parquet")
	if err := os.WriteFile(pqPath, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	scan, err = scanDuplicates(context.Background(), &source.Opener{}, v, source.Ref{URI: pqPath, Format: source.Parquet}, mapping.Mapping{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].line, want[i].by = want[i].line-1, want[i].by-1
	}
	if !slices.Equal(scan.lines, want) {
		t.Fatalf("Parquet: %d superseded rows, want %d", len(scan.lines), len(want))
	}
}

// The duplicates file of an import scanned before the scan went to the
// store is named in the chunk's input: a worker reads it only from its
// own duplicates directory, under the import's own name.
func TestALegacyDuplicatesFileIsReadOnlyFromTheWorkersOwnDirectory(t *testing.T) {
	a, _ := onOwnStore(t)
	own := filepath.Join(t.TempDir(), "duplicates")
	elsewhere := filepath.Join(t.TempDir(), "duplicates")
	for _, dir := range []string{own, elsewhere} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fsname.Safe(testKey)+".txt"), []byte("3 7\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(path string) bool {
		_, err := a.supersededLines(testKey, path)
		var app *temporal.ApplicationError
		return errors.As(err, &app) && app.Type() == failure.BadState
	}
	if !refused(filepath.Join(own, fsname.Safe(testKey)+".txt")) {
		t.Fatal("a worker that keeps no duplicates files read one")
	}
	a.DuplicatesDir = own
	m, err := a.supersededLines(testKey, filepath.Join(own, fsname.Safe(testKey)+".txt"))
	if err != nil || m[3] != 7 {
		t.Fatalf("its own file: %v, %v", m, err)
	}
	for _, path := range []string{
		filepath.Join(elsewhere, fsname.Safe(testKey)+".txt"),
		filepath.Join(own, "other-import.txt"),
		own + "/../duplicates/" + fsname.Safe(testKey) + ".txt",
		"duplicates/" + fsname.Safe(testKey) + ".txt",
	} {
		if !refused(path) {
			t.Errorf("read %s", path)
		}
	}
}
