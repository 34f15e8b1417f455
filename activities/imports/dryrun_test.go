package imports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"importer/activities/mapping"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/activities/vendors"
	"importer/activities/vendors/gen"
)

func writeList(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func dryRun(t *testing.T, o *source.Opener, vendor, uri string, f source.Format, m mapping.Mapping) (DryRunResult, []rejects.Reject) {
	t.Helper()
	var got []rejects.Reject
	res, err := DryRun(context.Background(), o, vendor, source.Ref{URI: uri, Format: f}, m, func(r rejects.Reject) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("DryRun: %v", err)
	}
	if res.Rows != res.WouldSend+res.WouldReject || int64(len(got)) != res.WouldReject {
		t.Fatalf("accounting: %+v with %d rejects handed over", res, len(got))
	}
	return res, got
}

// Duplicates far apart land in different chunks, so only the list-wide scan
// can find them; the last row of a user wins even when it is invalid, as in
// the import.
func TestDryRunNebulyRejectsAndDuplicatesAcrossChunks(t *testing.T) {
	var b strings.Builder
	b.WriteString("end_user,active_from,active_to,tags.Plan\n")
	const n = 2*dryRunChunkRows + 500
	for i := 0; i < n; i++ {
		from := "2025-01-02"
		switch i {
		case 10, 20, 30:
			from = "31/12/2025" // the same bad date three times: one reason
		case 40:
			from = ""
		}
		fmt.Fprintf(&b, "u%06d@example.com,%s,,Pro\n", i, from)
	}
	// Line 2 is u000000 (valid); it appears again at the very end, valid:
	// line 2 is the duplicate. u000001 appears again at the end, invalid:
	// its earlier valid row is still replaced, and the last row is rejected
	// for its own reason.
	fmt.Fprintf(&b, "u000000@example.com,2025-03-03,,Team\n")
	fmt.Fprintf(&b, "u000001@example.com,2025-03-03,2020-01-01,Team\n")
	path := writeList(t, "users.csv", b.String())

	res, got := dryRun(t, &source.Opener{}, "nebuly", path, source.CSV, mapping.Mapping{})
	if res.Rows != n+2 || res.WouldReject != 4+2+1 || res.Duplicates != 2 {
		t.Fatalf("rows %d, would reject %d, duplicates %d; want %d, 7, 2", res.Rows, res.WouldReject, res.Duplicates, n+2)
	}
	wantLines := []int64{2, 3, 12, 22, 32, 42, n + 3}
	if len(got) != len(wantLines) {
		t.Fatalf("rejects %+v", got)
	}
	for i, r := range got {
		if r.Line != wantLines[i] || r.Vendor != "nebuly" {
			t.Errorf("reject %d = %+v, want line %d", i, r, wantLines[i])
		}
	}
	if got[0].UserID != "u000000@example.com" || !strings.Contains(got[0].Reason, fmt.Sprintf("line %d has the same id", n+2)) {
		t.Errorf("first duplicate: %+v", got[0])
	}
	if !strings.Contains(got[1].Reason, fmt.Sprintf("line %d has the same id", n+3)) {
		t.Errorf("a valid row replaced by an invalid later one: %+v", got[1])
	}
	if !strings.Contains(got[6].Reason, "active_to 2020-01-01 is before active_from") {
		t.Errorf("the invalid last row: %+v", got[6])
	}
	// Grouped in the order the list first gives them; the bad date once
	// with its three rows.
	want := []ReasonCount{
		{Reason: got[0].Reason, Rows: 1, FirstLine: 2},
		{Reason: got[1].Reason, Rows: 1, FirstLine: 3},
		{Reason: `active_from: "31/12/2025" is not a date (want YYYY-MM-DD)`, Rows: 3, FirstLine: 12},
		{Reason: "active_from is empty", Rows: 1, FirstLine: 42},
		{Reason: got[6].Reason, Rows: 1, FirstLine: n + 3},
	}
	if fmt.Sprint(res.Reasons) != fmt.Sprint(want) || res.OtherRejects != 0 {
		t.Errorf("reasons\n got %+v\nwant %+v (other %d)", res.Reasons, want, res.OtherRejects)
	}
}

func TestDryRunCapsDistinctReasons(t *testing.T) {
	var b strings.Builder
	b.WriteString("end_user,active_from\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "u%d@example.com,not-a-date-%d\n", i, i%15) // 15 distinct reasons, twice each
	}
	res, _ := dryRun(t, &source.Opener{}, "nebuly", writeList(t, "d.csv", b.String()), source.CSV, mapping.Mapping{})
	if len(res.Reasons) != DryRunReasons {
		t.Fatalf("%d reasons, want %d", len(res.Reasons), DryRunReasons)
	}
	for i, r := range res.Reasons {
		if r.Rows != 2 || !strings.Contains(r.Reason, fmt.Sprintf(`"not-a-date-%d"`, i)) {
			t.Errorf("reason %d = %+v", i, r)
		}
	}
	if res.OtherRejects != 10 || res.WouldReject != 30 {
		t.Errorf("other %d, rejected %d; want 10 and 30", res.OtherRejects, res.WouldReject)
	}
}

// Every import vendor's own rules decide: the generators' invalid rows are
// exactly the ones each vendor's validation refuses.
func TestDryRunEveryVendor(t *testing.T) {
	for _, vendor := range vendors.ImportNames() {
		t.Run(vendor, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), vendor+".csv")
			st, err := gen.VendorFile(vendor, path, gen.Options{Rows: 3000, InvalidEvery: 7})
			if err != nil {
				t.Fatal(err)
			}
			res, got := dryRun(t, &source.Opener{}, vendor, path, source.CSV, mapping.Mapping{})
			if res.Rows != int64(st.Rows) || res.WouldSend != int64(st.Valid) || res.WouldReject != int64(st.Invalid) || res.Duplicates != 0 {
				t.Fatalf("%+v; want %d rows, %d valid, %d invalid", res, st.Rows, st.Valid, st.Invalid)
			}
			for _, r := range got {
				if i := int(r.Line - 2); r.Vendor != vendor || !(gen.Options{InvalidEvery: 7}).Invalid(i) {
					t.Fatalf("reject %+v is not a generated invalid row", r)
				}
			}
		})
	}
}

func TestDryRunNDJSONWithMapping(t *testing.T) {
	list := `{"email":"a@example.com","since":"2025-01-01","plan":"Pro"}
{"email":"b@example.com","since":"2025-13-01"}
not json
{"email":"a@example.com","since":"2025-02-01"}
`
	m := mapping.Mapping{Fields: map[string]string{"end_user": "email", "active_from": "since", "tags.Plan": "plan"}}
	res, got := dryRun(t, &source.Opener{}, "nebuly", writeList(t, "l.ndjson", list), source.NDJSON, m)
	if res.Rows != 4 || res.WouldSend != 1 || res.Duplicates != 1 {
		t.Fatalf("%+v", res)
	}
	lines := []int64{}
	for _, r := range got {
		lines = append(lines, r.Line)
	}
	if fmt.Sprint(lines) != "[1 2 3]" || got[0].UserID != "a@example.com" || !strings.Contains(got[0].Reason, "line 4") {
		t.Fatalf("rejects %+v", got)
	}
}

// A URL is read like a worker reads it: with Range requests, and a server
// that ignores them is refused rather than read wrongly.
func TestDryRunURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.csv")
	st, err := gen.VendorFile("nebuly", path, gen.Options{Rows: 25000, InvalidEvery: 50, QuotedNewlineEvery: 9})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ranged := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain.csv" {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			_, _ = w.Write(data)
			return
		}
		if r.Header.Get("Range") != "" {
			ranged++
		}
		http.ServeContent(w, r, "u.csv", time.Unix(1_700_000_000, 0), strings.NewReader(string(data)))
	}))
	defer srv.Close()
	o := &source.Opener{HTTP: srv.Client()}
	res, _ := dryRun(t, o, "nebuly", srv.URL+"/u.csv?token=secret", source.CSV, mapping.Mapping{})
	if res.WouldSend != int64(st.Valid) || res.WouldReject != int64(st.Invalid) || ranged == 0 {
		t.Fatalf("%+v, %d ranged requests; want %d valid, %d invalid", res, ranged, st.Valid, st.Invalid)
	}
	if strings.Contains(res.Source, "secret") {
		t.Errorf("the source keeps the URL's query: %s", res.Source)
	}
	_, err = DryRun(context.Background(), o, "nebuly", source.Ref{URI: srv.URL + "/plain.csv", Format: source.CSV}, mapping.Mapping{}, nil)
	if err == nil || !strings.Contains(err.Error(), "Range") {
		t.Fatalf("a server without Range support: %v", err)
	}
}

func TestDryRunRefusesWhatTheImportRefuses(t *testing.T) {
	o := &source.Opener{}
	cases := []struct {
		name, vendor, list, want string
	}{
		{"missing columns", "nebuly", "email,plan\na@example.com,Pro\n", "no column for the nebuly fields end_user, active_from"},
		{"semicolons", "nebuly", "end_user;active_from\na;2025-01-01\n", "semicolon-separated"},
		{"unknown vendor", "acme", "end_user\n", `unknown vendor "acme"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DryRun(context.Background(), o, tc.vendor, source.Ref{URI: writeList(t, "x.csv", tc.list), Format: source.CSV}, mapping.Mapping{}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	_, err := DryRun(context.Background(), o, "nebuly", source.Ref{URI: filepath.Join(t.TempDir(), "none.csv"), Format: source.CSV}, mapping.Mapping{}, nil)
	if !errors.Is(err, source.ErrNotFound) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("a missing file: %v", err)
	}
}

func TestDryRunStopsOnCallbackErrorAndCancellation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.csv")
	if _, err := gen.VendorFile("nebuly", path, gen.Options{Rows: 100, InvalidEvery: 10}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("disk full")
	calls := 0
	_, err := DryRun(context.Background(), &source.Opener{}, "nebuly", source.Ref{URI: path, Format: source.CSV}, mapping.Mapping{}, func(rejects.Reject) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DryRun(ctx, &source.Opener{}, "nebuly", source.Ref{URI: path, Format: source.CSV}, mapping.Mapping{}, nil); err == nil {
		t.Fatal("a cancelled dry run succeeded")
	}
}
