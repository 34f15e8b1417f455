package audience

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/fynd"
	fyndfake "importer/activities/fynd/fake"
	"importer/internal/artifacts"
	"importer/internal/connections"
)

// listingRig is a Fynd fake holding one processed group of n members,
// behind a proxy that counts member-page requests and can refuse them from
// a page on (as a worker that dies mid-listing would stop asking).
type listingRig struct {
	c       *fynd.Client
	group   string
	store   *artifacts.Local
	mu      sync.Mutex
	pages   int // member pages asked for
	refuse  int // answer 400 from this page request on; 0 never
	cursors []string
}

func newListingRig(t *testing.T, n int) *listingRig {
	t.Helper()
	fake := fyndfake.New(fyndfake.Options{ClientID: "id", ClientSecret: "secret", CompanyID: "1", ApplicationID: "app",
		AutoCreateUsers: true, GroupStep: 10 * time.Millisecond})
	t.Cleanup(fake.Close)
	r := &listingRig{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/users") && strings.Contains(req.URL.Path, "/user_group/") {
			r.mu.Lock()
			r.pages++
			r.cursors = append(r.cursors, req.URL.Query().Get("cursor"))
			refused := r.refuse > 0 && r.pages >= r.refuse
			r.mu.Unlock()
			if refused {
				http.Error(w, `{"message":"refused by the test"}`, http.StatusBadRequest)
				return
			}
		}
		fake.ServeHTTP(w, req)
	}))
	t.Cleanup(proxy.Close)

	var csv strings.Builder
	csv.WriteString("user_id,email,phone_number\n")
	for i := range n {
		fmt.Fprintf(&csv, ",member%05d@shop.example,\n", i)
	}
	file := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(csv.String()))
	}))
	t.Cleanup(file.Close)

	c, err := fynd.New(fynd.Config{BaseURL: proxy.URL, ClientID: "id", ClientSecret: "secret", CompanyID: "1", ApplicationID: "app"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g, err := c.CreateGroup(ctx, fynd.GroupInput{Name: "listing", Description: "members", Category: DefaultGroupCategory, FileURL: file.URL + "/members.csv"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !g.Processed(); time.Sleep(20 * time.Millisecond) {
		if g.Failed() || time.Now().After(deadline) {
			t.Fatalf("the fake did not process the group: %+v", g)
		}
		if g, err = c.GetGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	}
	store, err := artifacts.NewLocal(t.TempDir(), "", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	r.c, r.group, r.store = c, g.ID, store
	return r
}

// list runs listMembers as an activity attempt, with the heartbeat details
// an earlier attempt left (nil for a first attempt).
func (r *listingRig) list(t *testing.T, a *Activities, earlier any) ([]fynd.Member, error) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	if earlier != nil {
		env.SetHeartbeatDetails(earlier)
	}
	env.RegisterActivityWithOptions(func(ctx context.Context) ([]fynd.Member, error) {
		return a.listMembers(ctx, r.c, connections.Connection{Vendor: AudienceVendor}, r.group, r.store, "audiences/test/listing-verify")
	}, activity.RegisterOptions{Name: "ListMembers"})
	v, err := env.ExecuteActivity("ListMembers")
	if err != nil {
		return nil, err
	}
	var out []fynd.Member
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func (r *listingRig) asked() (pages int, cursors []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, c := r.pages, r.cursors
	r.pages, r.cursors = 0, nil
	return p, c
}

func distinctEmails(t *testing.T, ms []fynd.Member, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range ms {
		if len(m.Emails) != 1 || seen[m.Emails[0]] {
			t.Fatalf("member %+v is missing an e-mail or came twice", m)
		}
		seen[m.Emails[0]] = true
	}
	if len(seen) != want {
		t.Fatalf("listed %d distinct members, want %d", len(seen), want)
	}
}

// A worker lost in the middle of a long member listing must not send the
// next attempt back to the first page: under repeated worker loss such a
// listing never ended.
func TestMemberListingResumesFromTheLastKeptPageAfterALostAttempt(t *testing.T) {
	const n = 550 // six pages: the fake, like Fynd, serves at most 100 a page
	r := newListingRig(t, n)
	a := &Activities{}

	// The first attempt gets three pages, then the vendor stops answering
	// for it, as it would stop hearing from a killed worker.
	r.refuse = 4
	if _, err := r.list(t, a, nil); err == nil {
		t.Fatal("the first attempt should have failed on the refused page")
	}
	if pages, _ := r.asked(); pages != 4 {
		t.Fatalf("the first attempt asked for %d pages, want 4 (three answered, one refused)", pages)
	}

	// The next attempt, with the heartbeat the first one left, asks only
	// for the pages it lacks, from the cursor after the third.
	r.refuse = 0
	got, err := r.list(t, a, listingProgress{Pages: 3, Listed: 300})
	if err != nil {
		t.Fatal(err)
	}
	pages, cursors := r.asked()
	if pages != 3 {
		t.Fatalf("the resumed attempt asked for %d pages, want the 3 it lacked", pages)
	}
	if cursors[0] == "" {
		t.Fatal("the resumed attempt started from the first page")
	}
	distinctEmails(t, got, n)

	// A finished listing leaves no kept pages behind.
	if _, err := r.store.Open(context.Background(), "audiences/test/listing-verify/page-00001.json"); err == nil {
		t.Fatal("a finished listing left its kept pages in the store")
	}
}

func TestMemberListingStartsOverWhenAKeptPageIsGone(t *testing.T) {
	const n = 250 // three pages
	r := newListingRig(t, n)
	a := &Activities{}
	r.refuse = 3
	if _, err := r.list(t, a, nil); err == nil {
		t.Fatal("the first attempt should have failed on the refused page")
	}
	r.asked()
	// Page 2 is lost (another machine's disk, a cleaned directory): the
	// listing cannot trust the rest and starts over, still exact.
	if err := r.store.Delete(context.Background(), "audiences/test/listing-verify/page-00002.json"); err != nil {
		t.Fatal(err)
	}
	r.refuse = 0
	got, err := r.list(t, a, listingProgress{Pages: 2, Listed: 200})
	if err != nil {
		t.Fatal(err)
	}
	if pages, cursors := r.asked(); pages != 3 || cursors[0] != "" {
		t.Fatalf("asked for %d pages from cursor %q; want all 3 from the first", pages, cursors[0])
	}
	distinctEmails(t, got, n)

	// Heartbeat details of another shape (an older worker's count) are
	// not a resume point either.
	got, err = r.list(t, a, int64(200))
	if err != nil {
		t.Fatal(err)
	}
	if pages, _ := r.asked(); pages != 3 {
		t.Fatalf("asked for %d pages after an older heartbeat, want all 3", pages)
	}
	distinctEmails(t, got, n)
}
