package audience

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/activities/vendorapi"
	"importer/internal/connections"
	"importer/internal/steps"
)

// listMembers pages through a group's members. A large group is dozens of
// pages in one activity: each page that fails on an answer a retry can fix
// is asked again in place, and the activity heartbeats while a page is
// slow, so one bad answer does not start the whole listing over.
//
// Each page is also kept in the artifact store under spill (page files with
// the cursor that follows them), and the heartbeat counts the pages kept, so
// that an attempt after a lost worker goes on from the last page kept
// instead of from the first: a listing that takes longer than workers live
// would otherwise never end. The members and the cursor are user data and
// stay out of the heartbeat, which holds only counts.
func (a *Activities) listMembers(ctx context.Context, c *fynd.Client, conn connections.Connection, groupID string, store ArtifactStore, spill string) ([]fynd.Member, error) {
	out, cursor, pages := a.resumeListing(ctx, store, spill, groupID)
	hb := steps.StartHeartbeat(ctx, listingProgress{Pages: pages, Listed: len(out)})
	defer hb.Stop()
	for page := pages + 1; ; page++ {
		var p fynd.MembersPage
		err := callWithRetry(ctx, func() error {
			var err error
			p, err = c.GroupUsers(ctx, groupID, cursor, 500)
			return err
		})
		if err != nil {
			return nil, a.fyndError(conn, err, "list the members of group %s (page %d)", groupID, page)
		}
		out = append(out, p.Items...)
		last := !p.HasNext || p.NextCursor == ""
		if !last && p.NextCursor == cursor {
			return nil, temporal.NewNonRetryableApplicationError("fynd returned the same member cursor twice", failure.VendorRejected, nil)
		}
		if !last {
			// Keeping a page is an optimisation for the next attempt:
			// when it fails, this attempt goes on without it.
			if err := putListingPage(ctx, store, spill, page, listingPage{Group: groupID, Next: p.NextCursor, Items: p.Items}); err == nil {
				hb.Set(listingProgress{Pages: page, Listed: len(out)})
			}
		}
		if last {
			a.dropListing(ctx, store, spill, page)
			return out, nil
		}
		cursor = p.NextCursor
	}
}

// listingProgress is listMembers' heartbeat: how many pages are kept.
type listingProgress struct {
	Pages  int `json:"pages"`
	Listed int `json:"listed"`
}

// listingPage is one kept page of a listing, with the cursor after it.
type listingPage struct {
	Group string        `json:"group"`
	Next  string        `json:"next"`
	Items []fynd.Member `json:"items"`
}

func listingKey(spill string, page int) string {
	return fmt.Sprintf("%s/page-%05d.json", spill, page)
}

func putListingPage(ctx context.Context, store ArtifactStore, spill string, n int, p listingPage) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = store.Put(ctx, listingKey(spill, n), bytes.NewReader(b))
	return err
}

// resumeListing reads back the pages an earlier attempt kept, as its last
// heartbeat counts them. Anything missing or out of place (a page of
// another group, a store the attempt cannot read) starts the listing over.
func (a *Activities) resumeListing(ctx context.Context, store ArtifactStore, spill, groupID string) (out []fynd.Member, cursor string, pages int) {
	var prog listingProgress
	if !activity.HasHeartbeatDetails(ctx) || activity.GetHeartbeatDetails(ctx, &prog) != nil || prog.Pages <= 0 {
		return nil, "", 0
	}
	for n := 1; n <= prog.Pages; n++ {
		p, err := readListingPage(ctx, store, listingKey(spill, n))
		if err != nil || p.Group != groupID || p.Next == "" {
			activity.GetLogger(ctx).Info("listing the group's members from the first page", "kept_pages", prog.Pages, "unreadable_page", n)
			return nil, "", 0
		}
		out = append(out, p.Items...)
		cursor = p.Next
	}
	activity.GetLogger(ctx).Info("listing the group's members from where the last attempt stopped", "pages", prog.Pages, "members", len(out))
	return out, cursor, prog.Pages
}

func readListingPage(ctx context.Context, store ArtifactStore, key string) (listingPage, error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return listingPage{}, err
	}
	defer rc.Close()
	var p listingPage
	err = json.NewDecoder(io.LimitReader(rc, 64<<20)).Decode(&p)
	return p, err
}

// dropListing deletes the kept pages of a finished listing; one left
// behind is overwritten by the next listing under the same key.
func (a *Activities) dropListing(ctx context.Context, store ArtifactStore, spill string, pages int) {
	for n := 1; n < pages; n++ {
		if err := store.Delete(ctx, listingKey(spill, n)); err != nil {
			activity.GetLogger(ctx).Warn("could not delete a kept page of a member listing", "key", listingKey(spill, n), "error", err)
			return
		}
	}
}

// inPlaceRetries bounds callWithRetry.
const inPlaceRetries = 6

// callWithRetry runs one vendor call, asking again in place on the answers a
// retry can fix (no answer, 408, 429, 5xx), after the vendor's Retry-After
// or a pause growing from half a second, up to inPlaceRetries times. It is
// for activities that make many calls, which would otherwise start over
// from their first call whenever one of them failed.
func callWithRetry(ctx context.Context, call func() error) error {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := call()
		ve, ok := vendorapi.As(err)
		if err == nil || !ok || !ve.Retryable() || attempt == inPlaceRetries || ctx.Err() != nil {
			return err
		}
		d := wait
		if ve.RetryAfter > 0 {
			d = ve.RetryAfter
		}
		if err := steps.SleepUntil(ctx, time.Now().Add(d)); err != nil {
			return err
		}
		wait = min(wait*2, 10*time.Second)
	}
}
