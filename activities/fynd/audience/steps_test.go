package audience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/internal/store"
)

// A sync makes the group match the list: the patch adds exactly the listed
// users the group lacks and removes exactly the members the list does not
// name, a member being the same user when any identifier is shared.
func TestGroupPatchAddsAndRemovesExactlyTheMembersThatDiffer(t *testing.T) {
	m := func(id string, emails, phones []string) fynd.Member {
		return fynd.Member{UserID: id, Emails: emails, Phones: phones}
	}
	cases := []struct {
		name    string
		desired [][3]string
		current []fynd.Member
		adds    [][3]string
		removes []fynd.Member
	}{
		{name: "an empty list and an empty group"},
		{
			name:    "an empty list empties the group",
			current: []fynd.Member{m("u1", nil, nil), m("", []string{"a@shop.example"}, nil)},
			removes: []fynd.Member{m("u1", nil, nil), m("", []string{"a@shop.example"}, nil)},
		},
		{
			name:    "an empty group gets every listed user",
			desired: [][3]string{{"u1", "", ""}, {"", "a@shop.example", ""}},
			adds:    [][3]string{{"u1", "", ""}, {"", "a@shop.example", ""}},
		},
		{
			name:    "the same user id",
			desired: [][3]string{{"u1", "", ""}},
			current: []fynd.Member{m("u1", nil, nil)},
		},
		{
			name:    "an e-mail in any case, on either side",
			desired: [][3]string{{"", "Ana@Shop.Example", ""}, {"", "ben@shop.example", ""}},
			current: []fynd.Member{m("", []string{"ana@shop.example"}, nil), m("", []string{"BEN@SHOP.EXAMPLE"}, nil)},
		},
		{
			name:    "the same phone number",
			desired: [][3]string{{"", "", "+919876543210"}},
			current: []fynd.Member{m("", nil, []string{"+919876543210"})},
		},
		{
			name:    "any of a member's e-mails and phone numbers",
			desired: [][3]string{{"", "new@shop.example", ""}, {"", "", "+918888888888"}},
			current: []fynd.Member{
				m("", []string{"old@shop.example", "new@shop.example"}, nil),
				m("", nil, []string{"+917777777777", "+918888888888"}),
			},
		},
		{
			name:    "a shared e-mail matches when the user ids differ",
			desired: [][3]string{{"u9", "c@shop.example", ""}},
			current: []fynd.Member{m("u3", []string{"c@shop.example"}, nil)},
		},
		{
			name:    "a shared phone matches when the user id and e-mail differ",
			desired: [][3]string{{"u9", "x@shop.example", "+915555555555"}},
			current: []fynd.Member{m("u3", []string{"y@shop.example"}, []string{"+915555555555"})},
		},
		{
			name:    "an identifier that differs only in case is another user id",
			desired: [][3]string{{"U1", "", ""}},
			current: []fynd.Member{m("u1", nil, nil)},
			adds:    [][3]string{{"U1", "", ""}},
			removes: []fynd.Member{m("u1", nil, nil)},
		},
		{
			name:    "empty identifiers never match each other",
			desired: [][3]string{{"", "", "+9100000000"}, {"", "z@shop.example", ""}},
			current: []fynd.Member{m("", []string{""}, []string{""})},
			adds:    [][3]string{{"", "", "+9100000000"}, {"", "z@shop.example", ""}},
			removes: []fynd.Member{m("", []string{""}, []string{""})},
		},
		{
			name:    "a user listed twice is neither added nor removed",
			desired: [][3]string{{"u1", "a@shop.example", ""}, {"u1", "a@shop.example", ""}, {"", "A@shop.example", ""}},
			current: []fynd.Member{m("u1", []string{"a@shop.example"}, nil)},
		},
		{
			name:    "a member the group's listing shows twice is kept, not removed once",
			desired: [][3]string{{"u1", "", ""}, {"", "b@shop.example", ""}},
			current: []fynd.Member{m("u1", nil, nil), m("u1", nil, nil), m("", []string{"b@shop.example"}, nil), m("", []string{"B@shop.example"}, nil)},
		},
		{
			name:    "adds and removes together, each in its own order",
			desired: [][3]string{{"u1", "", ""}, {"u5", "", ""}, {"", "ana@shop.example", ""}, {"", "", "+914444444444"}},
			current: []fynd.Member{m("u7", nil, nil), m("u1", nil, nil), m("", []string{"ANA@shop.example"}, nil), m("u8", []string{"gone@shop.example"}, nil)},
			adds:    [][3]string{{"u5", "", ""}, {"", "", "+914444444444"}},
			removes: []fynd.Member{m("u7", nil, nil), m("u8", []string{"gone@shop.example"}, nil)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			adds, removes := diffMembers(c.desired, c.current)
			if len(adds) != len(c.adds) || (len(adds) > 0 && !reflect.DeepEqual(adds, c.adds)) {
				t.Errorf("adds %q, want %q", adds, c.adds)
			}
			if len(removes) != len(c.removes) || (len(removes) > 0 && !reflect.DeepEqual(removes, c.removes)) {
				t.Errorf("removes %+v, want %+v", removes, c.removes)
			}
		})
	}
}

// errorFileServer serves Fynd-like group error files, and error pages that
// happen to be CSV with a reason column (as an expired link's page could).
func errorFileServer(t *testing.T) *httptest.Server {
	t.Helper()
	files := map[string]string{
		"/errors.csv": "User_ID, Email ,phone_number,Row,Reason\n" +
			"U-1,,,,  user   not\tfound \n" +
			",Ana@Shop.Example,,,email not verified\n" +
			",,+919876543210,,phone blocked\n" +
			",,,3,bad row\n" +
			",,,,the file has no header we know\n" +
			",,,x,not a row number\n" +
			",,,0,row zero is no row\n" +
			"u-2,,,4,named twice\n" +
			"short\n",
		"/other-names.csv": "identifier,line,error\nABC@shop.example,2,nope\n",
		"/user-names.csv":  "user,row_number,message\nu-9,7,gone\n",
		"/no-reason.csv":   "user_id,comment\nu1,looks fine\n",
		"/json":            `{"error":"not a csv"}`,
		"/empty":           "",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("reason\nAccessDenied\n"))
			return
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("reason\nInternalError\n"))
			return
		}
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The reasons of a failed group reach the person by the user they name (any
// of its identifiers, in any case) or by the row of the file the group
// processed; a reason that names neither is about the whole file.
func TestGroupErrorFileReasonsAreFoundByIdentifierAndRow(t *testing.T) {
	srv := errorFileServer(t)
	a := &Activities{HTTP: srv.Client()}
	ctx := context.Background()

	ef := a.readErrorFile(ctx, srv.URL+"/errors.csv")
	wantID := map[string]string{
		"u-1":              "user not found",
		"ana@shop.example": "email not verified",
		"+919876543210":    "phone blocked",
		"u-2":              "named twice",
	}
	wantRow := map[int]string{3: "bad row", 4: "named twice"}
	wantWhole := []string{"the file has no header we know", "not a row number", "row zero is no row"}
	if !reflect.DeepEqual(ef.byID, wantID) {
		t.Errorf("by identifier %q, want %q", ef.byID, wantID)
	}
	if !reflect.DeepEqual(ef.byRow, wantRow) {
		t.Errorf("by row %v, want %v", ef.byRow, wantRow)
	}
	if !reflect.DeepEqual(ef.whole, wantWhole) {
		t.Errorf("whole-file reasons %q, want %q", ef.whole, wantWhole)
	}

	for path, want := range map[string]errorFile{
		"/other-names.csv": {byID: map[string]string{"abc@shop.example": "nope"}, byRow: map[int]string{2: "nope"}},
		"/user-names.csv":  {byID: map[string]string{"u-9": "gone"}, byRow: map[int]string{7: "gone"}},
	} {
		got := a.readErrorFile(ctx, srv.URL+path)
		if !reflect.DeepEqual(got.byID, want.byID) || !reflect.DeepEqual(got.byRow, want.byRow) || len(got.whole) != 0 {
			t.Errorf("%s read as %+v, want %+v", path, got, want)
		}
	}
}

// An error file that cannot be fetched or read says nothing: the failure
// is reported with what Fynd's answer itself said, not with an error page.
func TestAnUnreadableGroupErrorFileSaysNothing(t *testing.T) {
	srv := errorFileServer(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL + "/errors.csv"
	gone.Close() // nothing listens there any more
	a := &Activities{HTTP: srv.Client()}
	for name, url := range map[string]string{
		"no file":                "",
		"not found":              srv.URL + "/missing",
		"server error":           srv.URL + "/broken",
		"no server":              goneURL,
		"not a URL":              "http://[::1]:namedport/x",
		"no reason column":       srv.URL + "/no-reason.csv",
		"not CSV":                srv.URL + "/json",
		"an empty file":          srv.URL + "/empty",
		"a file the server lost": srv.URL + "/nowhere.csv",
	} {
		t.Run(name, func(t *testing.T) {
			ef := a.readErrorFile(context.Background(), url)
			if len(ef.whole)+len(ef.byRow)+len(ef.byID) != 0 {
				t.Fatalf("read %+v from %s; want nothing", ef, url)
			}
			if got := ef.first(3); len(got) != 0 {
				t.Fatalf("first(3) = %q; want none", got)
			}
			// The empty file is still usable by VerifyGroup's lookups.
			if ef.byID == nil || ef.byRow == nil {
				t.Fatal("the maps of an empty error file are nil")
			}
		})
	}
}

// A failed group's message quotes a few distinct reasons: the ones about
// the whole file first, then by row in row order, then by user.
func TestGroupFailureQuotesAFewDistinctReasonsWholeFileFirst(t *testing.T) {
	ef := errorFile{
		whole: []string{"A", "", "B", "A"},
		byRow: map[int]string{9: "C", 1: "D", 5: "B", 7: ""},
		byID:  map[string]string{"u1": "E"},
	}
	for n, want := range map[int][]string{
		0:  nil,
		1:  {"A"},
		3:  {"A", "B", "D"},
		4:  {"A", "B", "D", "C"},
		10: {"A", "B", "D", "C", "E"},
	} {
		if got := ef.first(n); len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Errorf("first(%d) = %q, want %q", n, got, want)
		}
	}
	if got := (errorFile{}).first(3); len(got) != 0 {
		t.Errorf("first(3) of an empty file = %q", got)
	}
}

// finishRig is a store with a sync's rejects, and the activity environment
// of the sync's own workflow (the test environment's workflow ID).
type finishRig struct {
	st  *store.Store
	a   *Activities
	env *testsuite.TestActivityEnvironment
}

// finishKey is a sync key the test environment's workflow owns.
const finishKey = "default-test-workflow-id-run1"

func newFinishRig(t *testing.T) *finishRig {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "importer.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &Activities{Store: st}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.FinishAudience)
	return &finishRig{st: st, a: a, env: env}
}

func (r *finishRig) put(t *testing.T, part string, rs ...rejects.Reject) {
	t.Helper()
	if err := r.st.PutRejects(context.Background(), finishKey, part, rejects.Stored(rs)); err != nil {
		t.Fatal(err)
	}
}

// stored lists the sync's rejects by part, as the store reads them back.
func (r *finishRig) stored(t *testing.T) map[string][]rejects.Reject {
	t.Helper()
	out := map[string][]rejects.Reject{}
	err := r.st.Rejects(context.Background(), finishKey, "", func(part string, rj store.Reject) error {
		out[part] = append(out[part], rejects.Reject(rj))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// putVendorRejects stores what a sync's vendor steps refused: four users,
// three of them refused by more than one step, with the lines as each step
// could find them (0: a step that could not).
func (r *finishRig) putVendorRejects(t *testing.T) {
	t.Helper()
	const group = `not in group "vip" after the sync: `
	r.put(t, rejects.PartName(0, 0),
		rejects.Reject{Line: 2, UserID: "bad-row", Vendor: AudienceVendor, Reason: "email is not an e-mail address"},
		rejects.Reject{Line: 4, UserID: "dup", Vendor: AudienceVendor, Reason: "duplicate user: line 6 names the same user and replaces this row"})
	r.put(t, vendorRejectPrefix+"group",
		rejects.Reject{Line: 9, UserID: "u2", Vendor: AudienceVendor, Reason: group + "user not found"},
		rejects.Reject{Line: 5, UserID: "u1", Vendor: AudienceVendor, Reason: group + "user not found"},
		rejects.Reject{Line: 12, UserID: "u3", Vendor: AudienceVendor, Reason: group + "blocked"})
	r.put(t, vendorRejectPrefix+"attrs-0000",
		rejects.Reject{Line: 5, UserID: "u1", Vendor: AudienceVendor, Reason: "attributes not set: unknown user"},
		rejects.Reject{Line: 3, UserID: "u2", Vendor: AudienceVendor, Reason: "attributes not set: unknown user"},
		rejects.Reject{Line: 0, UserID: "u4", Vendor: AudienceVendor, Reason: "attributes not set: unknown user"})
	r.put(t, vendorRejectPrefix+"attrs-0001",
		rejects.Reject{Line: 5, UserID: "u1", Vendor: AudienceVendor, Reason: "attributes not set: unknown user"},
		rejects.Reject{Line: 7, UserID: "u4", Vendor: AudienceVendor, Reason: "attributes not set: bad value"},
		// A reason that is part of another one already merged is its own.
		rejects.Reject{Line: 7, UserID: "u4", Vendor: AudienceVendor, Reason: "attributes not set: bad"})
}

// A user Fynd does not know fails the group and every attribute job: the
// person sees one reject line for them, at their (lowest known) source
// line, saying each distinct reason once, and the sync's accounting counts
// them once.
func TestFinishingASyncMergesVendorRejectsIntoOneLinePerMember(t *testing.T) {
	r := newFinishRig(t)
	r.putVendorRejects(t)
	const group = `not in group "vip" after the sync: `
	want := []rejects.Reject{
		{Line: 3, UserID: "u2", Vendor: AudienceVendor, Reason: "attributes not set: unknown user; " + group + "user not found"},
		{Line: 5, UserID: "u1", Vendor: AudienceVendor, Reason: "attributes not set: unknown user; " + group + "user not found"},
		{Line: 7, UserID: "u4", Vendor: AudienceVendor, Reason: "attributes not set: unknown user; attributes not set: bad value; attributes not set: bad"},
		{Line: 12, UserID: "u3", Vendor: AudienceVendor, Reason: group + "blocked"},
	}
	prepRejected := int64(2)
	v, err := r.env.ExecuteActivity(r.a.FinishAudience, FinishAudienceInput{
		Spec: AudienceSpec{SyncKey: finishKey, Group: "vip"}, Members: len(want), Rejected: &prepRejected})
	if err != nil {
		t.Fatal(err)
	}
	var fin FinishedAudience
	if err := v.Get(&fin); err != nil {
		t.Fatal(err)
	}
	if fin.VendorRejected != len(want) || fin.Rejects != len(want)+int(prepRejected) {
		t.Errorf("finished %+v; want %d vendor rejects, %d in all", fin, len(want), len(want)+int(prepRejected))
	}
	parts := r.stored(t)
	for part := range parts {
		if strings.HasPrefix(part, vendorRejectPrefix) {
			t.Errorf("vendor part %s is still in the store: %+v", part, parts[part])
		}
	}
	// The store reads rejects back in line order, whatever order they were
	// written in: what this shows is each member's line, not the order.
	if got := parts["w-vendor"]; !reflect.DeepEqual(got, want) {
		t.Errorf("merged rejects:\n got %+v\nwant %+v", got, want)
	}
	if got := parts[rejects.PartName(0, 0)]; len(got) != 2 || got[0].UserID != "bad-row" || got[1].UserID != "dup" {
		t.Errorf("the preparation's rejects changed: %+v", got)
	}

	// A retry after the merge (the attempt's answer was lost) finds no
	// vendor parts: it counts Fynd's refusals from the merged part, so the
	// sync's result still subtracts them, and changes nothing.
	v, err = r.env.ExecuteActivity(r.a.FinishAudience, FinishAudienceInput{
		Spec: AudienceSpec{SyncKey: finishKey, Group: "vip"}, Members: len(want), Rejected: &prepRejected})
	if err != nil {
		t.Fatal(err)
	}
	var again FinishedAudience
	if err := v.Get(&again); err != nil {
		t.Fatal(err)
	}
	if again != fin {
		t.Errorf("a retry finished %+v; the first attempt %+v", again, fin)
	}
	if after := r.stored(t); !reflect.DeepEqual(after, parts) {
		t.Errorf("a retry changed the store:\nbefore %+v\n after %+v", parts, after)
	}
}

// Fynd cannot refuse more users than it was sent: when the merged rejects
// say it did, the sync fails as a bug in its accounting, and its vendor
// rejects stay as they were for a look.
func TestMoreVendorRefusalsThanMembersSentFailsTheAccounting(t *testing.T) {
	r := newFinishRig(t)
	r.putVendorRejects(t)
	before := r.stored(t)
	_, err := r.env.ExecuteActivity(r.a.FinishAudience, FinishAudienceInput{
		Spec: AudienceSpec{SyncKey: finishKey, Group: "vip"}, Members: 3}) // four users refused
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != failure.AccountingError || !app.NonRetryable() {
		t.Fatalf("%v; want a non-retryable %s", err, failure.AccountingError)
	}
	if !strings.Contains(app.Message(), "refused 4 members of the 3 sent") {
		t.Errorf("message %q does not give the counts", app.Message())
	}
	if after := r.stored(t); !reflect.DeepEqual(after, before) {
		t.Errorf("the store changed on a failed accounting:\nbefore %+v\n after %+v", before, after)
	}
}

// The error file's URL comes in Fynd's answer: the worker fetches it under
// its source policy, so an answer cannot make it reach an internal
// address the operator has not listed, and fetches it when the operator
// has (here, loopback).
func TestAnErrorFileOnAPrivateAddressIsNotFetchedUnlessThePolicyAllows(t *testing.T) {
	var asked atomic.Int64
	files := errorFileServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		files.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	strict, err := source.NewPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{HTTP: srv.Client(), Opener: &source.Opener{Policy: strict}}
	if ef := a.readErrorFile(context.Background(), srv.URL+"/errors.csv"); len(ef.first(10)) != 0 || asked.Load() != 0 {
		t.Fatalf("read %+v with %d requests from a loopback address the policy does not allow", ef, asked.Load())
	}
	loopback, err := source.NewPolicy(nil, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	a.Opener = &source.Opener{Policy: loopback}
	if ef := a.readErrorFile(context.Background(), srv.URL+"/errors.csv"); ef.byID["u-1"] != "user not found" || asked.Load() != 1 {
		t.Fatalf("read %+v with %d requests; want the file, once, with its host listed", ef, asked.Load())
	}
}
