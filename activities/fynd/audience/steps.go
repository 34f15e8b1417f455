package audience

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/internal/connections"
	"importer/internal/steps"
	"importer/internal/store"
	"importer/internal/vendorcall"
)

// EnsureAttributesName is what EnsureAttributes is registered as and workflows call.
const EnsureAttributesName = "EnsureAttributes"

// EnsureAttributes makes every attribute definition the sync sets exist,
// found by slug: a missing one is created, and one whose name, type or
// description differs from what the mapping declares is updated.
func (a *Activities) EnsureAttributes(ctx context.Context, in EnsureAttributesInput) ([]AttributeDefinition, error) {
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return nil, err
	}
	var out []AttributeDefinition
	for _, slug := range in.Slugs {
		want := in.Mapping.Attributes[slug]
		input := fynd.DefinitionInput{
			Name:        or(want.Name, slug),
			Slug:        slug,
			Description: or(want.Description, "Set by importer audience syncs"),
			Type:        or(want.Type, fynd.TypeString),
		}
		def, err := c.FindDefinition(ctx, slug)
		if err != nil {
			return nil, a.fyndError(conn, err, "find attribute definition %s", slug)
		}
		switch {
		case def == nil:
			created, err := c.CreateDefinition(ctx, input)
			if ve, ok := vendorapi.As(err); ok && ve.Status == http.StatusBadRequest {
				// Another sync may have created it a moment ago.
				if again, ferr := c.FindDefinition(ctx, slug); ferr == nil && again != nil {
					out = append(out, AttributeDefinition{Slug: slug, ID: again.ID, Action: "unchanged"})
					continue
				}
			}
			if err != nil {
				return nil, a.fyndError(conn, err, "create attribute definition %s", slug)
			}
			out = append(out, AttributeDefinition{Slug: slug, ID: created.ID, Action: "created"})
		case (want.Name != "" && def.Name != want.Name) || (want.Type != "" && !strings.EqualFold(def.Type, want.Type)) ||
			(want.Description != "" && def.Description != want.Description):
			if _, err := c.UpdateDefinition(ctx, def.ID, input); err != nil {
				return nil, a.fyndError(conn, err, "update attribute definition %s", slug)
			}
			out = append(out, AttributeDefinition{Slug: slug, ID: def.ID, Action: "updated"})
		default:
			out = append(out, AttributeDefinition{Slug: slug, ID: def.ID, Action: "unchanged"})
		}
	}
	return out, nil
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// StartAttributeJobName is what StartAttributeJob is registered as and workflows call.
const StartAttributeJobName = "StartAttributeJob"

// StartAttributeJob starts the bulk attribute update of one attribute set:
// the values from the manifest on every user of the set's file. The job id
// is recorded as a heartbeat the moment Fynd answers, so an attempt retried
// after a crash returns that job instead of starting another.
func (a *Activities) StartAttributeJob(ctx context.Context, in AttributeJobInput) (AttributeJobResult, error) {
	if activity.HasHeartbeatDetails(ctx) {
		var id string
		if err := activity.GetHeartbeatDetails(ctx, &id); err == nil && id != "" {
			return AttributeJobResult{JobID: id, Status: "submitted"}, nil
		}
	}
	store, err := a.artifacts()
	if err != nil {
		return AttributeJobResult{}, err
	}
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return AttributeJobResult{}, err
	}
	man, err := readManifest(ctx, store, in.Manifest)
	if err != nil {
		return AttributeJobResult{}, err
	}
	if in.Set.Index < 0 || in.Set.Index >= len(man.Sets) || man.Sets[in.Set.Index].File != in.Set.File {
		return AttributeJobResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("attribute set %d is not in the manifest %s", in.Set.Index, in.Manifest), failure.BadInput, nil)
	}
	set := man.Sets[in.Set.Index]
	slugs := make([]string, 0, len(set.Values))
	for s := range set.Values {
		slugs = append(slugs, s)
	}
	sort.Strings(slugs)
	attrs := make([]fynd.KeyValue, 0, len(slugs))
	for _, s := range slugs {
		attrs = append(attrs, fynd.KeyValue{Key: s, Value: set.Values[s]})
	}
	url, err := store.URL(ctx, set.File, artifactTTL)
	if err != nil {
		return AttributeJobResult{}, failure.Classify(fmt.Errorf("publish attribute file %d: %w", set.Index+1, err), "")
	}
	job, err := c.BulkUpdateAttributes(ctx, url, attrs)
	if err != nil {
		return AttributeJobResult{}, a.fyndError(conn, err, "attribute set %d (%d users): start the bulk update", set.Index+1, set.Rows)
	}
	if job.JobID == "" {
		if job.Sync() {
			// Applied at once: nothing to wait for.
			return AttributeJobResult{Status: "applied"}, nil
		}
		return AttributeJobResult{}, temporal.NewNonRetryableApplicationError("fynd accepted a bulk attribute update without a job id to follow", failure.VendorRejected, nil)
	}
	activity.RecordHeartbeat(ctx, job.JobID)
	return AttributeJobResult{JobID: job.JobID, Status: "submitted"}, nil
}

func readManifest(ctx context.Context, store ArtifactStore, key string) (audienceManifest, error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return audienceManifest{}, failure.Classify(fmt.Errorf("read manifest %s: %w", key, err), "")
	}
	defer rc.Close()
	var man audienceManifest
	dec := json.NewDecoder(rc)
	dec.UseNumber()
	if err := dec.Decode(&man); err != nil {
		return audienceManifest{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("manifest %s is unreadable: %v", key, err), failure.BadArtifact, nil)
	}
	return man, nil
}

// WaitAttributeJobName is what WaitAttributeJob is registered as and workflows call.
const WaitAttributeJobName = "WaitAttributeJob"

// WaitAttributeJob polls a bulk attribute job until it ends. A failed job
// fails the sync with Fynd's reason; rows a completed job refused become
// rejects.
func (a *Activities) WaitAttributeJob(ctx context.Context, in AttributeJobInput) (AttributeJobResult, error) {
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return AttributeJobResult{}, err
	}
	var st fynd.JobStatus
	err = steps.PollUntil(ctx, a.poll(in.Poll), func(polls int) (bool, error) {
		var err error
		st, err = c.BulkJobStatus(ctx, in.JobID)
		if err != nil {
			return false, a.fyndError(conn, err, "attribute job %s", in.JobID)
		}
		activity.RecordHeartbeat(ctx, waitProgress{Status: st.Status, Done: st.Processed, Total: st.Total, Polls: polls})
		return st.Terminal(), nil
	})
	if err != nil {
		return AttributeJobResult{}, err
	}
	if !st.Succeeded() {
		msg := fmt.Sprintf("fynd bulk attribute job %s (attribute set %d, %d users) ended %s", in.JobID, in.Set.Index+1, in.Set.Rows, st.Status)
		if st.Message != "" {
			msg += ": " + vendorapi.Trim(st.Message)
		}
		return AttributeJobResult{}, temporal.NewNonRetryableApplicationError(msg, failure.VendorJobFailed, nil)
	}
	res := AttributeJobResult{JobID: in.JobID, Status: st.Status, Processed: st.Processed, Failed: st.Failed}
	if len(st.Errors) > 0 {
		idx, err := a.loadLines(ctx, in.LinesFile)
		if err != nil {
			return AttributeJobResult{}, err
		}
		var rs []rejects.Reject
		for _, e := range st.Errors {
			key, line := idx.find(e.Identifier)
			rs = append(rs, rejects.Reject{Line: line, UserID: key, Vendor: AudienceVendor,
				Reason: "attributes not set: " + vendorapi.Trim(e.Reason)})
		}
		if err := a.Store.PutRejects(ctx, in.Spec.SyncKey, fmt.Sprintf("%sattrs-%04d", vendorRejectPrefix, in.Set.Index), rejects.Stored(rs)); err != nil {
			return AttributeJobResult{}, err
		}
		res.Failed = len(rs)
	}
	return res, nil
}

// waitProgress is the heartbeat of a wait: what the vendor last said.
type waitProgress struct {
	Status string `json:"status"`
	Done   int    `json:"done,omitempty"`
	Total  int    `json:"total,omitempty"`
	Polls  int    `json:"polls"`
}

// SyncGroupName is what SyncGroup is registered as and workflows call.
const SyncGroupName = "SyncGroup"

// SyncGroup makes the group hold the members file. A group is looked up by
// name before anything is created, so a re-run (or a retried attempt after
// a create whose answer was lost) patches the existing group instead of
// making a duplicate. An existing group is compared with the list and
// patched with what to add and, unless KeepMissing, what to remove.
func (a *Activities) SyncGroup(ctx context.Context, in SyncGroupInput) (GroupSync, error) {
	store, err := a.artifacts()
	if err != nil {
		return GroupSync{}, err
	}
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return GroupSync{}, err
	}
	g, err := c.FindGroup(ctx, in.Spec.Group)
	if err != nil {
		return GroupSync{}, a.fyndError(conn, err, "find group %q", in.Spec.Group)
	}
	if g == nil {
		url, err := store.URL(ctx, in.MembersFile, artifactTTL)
		if err != nil {
			return GroupSync{}, failure.Classify(fmt.Errorf("publish the members file: %w", err), "")
		}
		created, err := c.CreateGroup(ctx, fynd.GroupInput{
			Name:        in.Spec.Group,
			Description: or(in.Spec.Description, "Managed by importer audience syncs"),
			Category:    or(in.Spec.Category, DefaultGroupCategory),
			FileURL:     url,
		})
		if err != nil {
			return GroupSync{}, a.fyndError(conn, err, "create group %q", in.Spec.Group)
		}
		return GroupSync{GroupID: created.ID, UID: int64(created.UID), Mode: "created", File: in.MembersFile}, nil
	}
	if !g.Processed() && !g.Failed() {
		return GroupSync{GroupID: g.ID, UID: int64(g.UID), Mode: "busy"}, nil
	}
	desired, err := readMembers(ctx, store, in.MembersFile, false)
	if err != nil {
		return GroupSync{}, err
	}
	current, err := a.listMembers(ctx, c, conn, g.ID, store, artifactKey(in.Spec, "listing-sync"))
	if err != nil {
		return GroupSync{}, err
	}
	adds, removes := diffMembers(desired, current)
	if in.Spec.KeepMissing {
		removes = nil
	}
	out := GroupSync{GroupID: g.ID, UID: int64(g.UID), Added: len(adds), Removed: len(removes)}
	if len(adds) == 0 && len(removes) == 0 {
		out.Mode = "unchanged"
		return out, nil
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(append(append([]string{}, fynd.IdentifierFields...), "action"))
	for _, m := range adds {
		_ = w.Write([]string{m[0], m[1], m[2], "add"})
	}
	for _, m := range removes {
		_ = w.Write([]string{m.UserID, first(m.Emails), first(m.Phones), "remove"})
	}
	w.Flush()
	key := in.PatchFile
	if _, err := store.Put(ctx, key, strings.NewReader(b.String())); err != nil {
		return GroupSync{}, failure.Classify(fmt.Errorf("publish the patch file: %w", err), "")
	}
	url, err := store.URL(ctx, key, artifactTTL)
	if err != nil {
		return GroupSync{}, failure.Classify(fmt.Errorf("publish the patch file: %w", err), "")
	}
	if _, err := c.PatchGroup(ctx, g.ID, fynd.GroupPatch{FileURL: url}); err != nil {
		return GroupSync{}, a.fyndError(conn, err, "patch group %q (%d to add, %d to remove)", in.Spec.Group, len(adds), len(removes))
	}
	out.Mode, out.File = "patched", in.PatchFile
	return out, nil
}

// DefaultGroupCategory is the category a new group is created in. Fynd's
// category values are not public; the sync's --category sets another.
const DefaultGroupCategory = "custom"

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// readMembers reads a members file (identifier triples), or with action a
// patch file, whose rows end in an action column.
func readMembers(ctx context.Context, store ArtifactStore, key string, action bool) ([][3]string, error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return nil, failure.Classify(fmt.Errorf("read the members file: %w", err), "")
	}
	defer rc.Close()
	r := csv.NewReader(rc)
	r.FieldsPerRecord = len(fynd.IdentifierFields)
	if action {
		r.FieldsPerRecord++
	}
	if _, err := r.Read(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the members file has no header: "+err.Error(), failure.BadArtifact, nil)
	}
	var out [][3]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError("the members file is unreadable: "+err.Error(), failure.BadArtifact, nil)
		}
		out = append(out, [3]string{rec[0], rec[1], rec[2]})
	}
}

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

// diffMembers says which desired members the group lacks and which of the
// group's members the list does not have. A member matches on any shared
// identifier: the user id, an e-mail (any case) or a phone number. A
// listing that shows one member twice keeps both copies of a member the
// list has: no copy is removed.
func diffMembers(desired [][3]string, current []fynd.Member) (adds [][3]string, removes []fynd.Member) {
	byID, byEmail, byPhone := map[string][]int{}, map[string][]int{}, map[string][]int{}
	for i, m := range current {
		if m.UserID != "" {
			byID[m.UserID] = append(byID[m.UserID], i)
		}
		for _, e := range m.Emails {
			byEmail[strings.ToLower(e)] = append(byEmail[strings.ToLower(e)], i)
		}
		for _, p := range m.Phones {
			byPhone[p] = append(byPhone[p], i)
		}
	}
	matched := make([]bool, len(current))
	for _, d := range desired {
		var same []int
		if d[0] != "" {
			same = byID[d[0]]
		}
		if len(same) == 0 && d[1] != "" {
			same = byEmail[strings.ToLower(d[1])]
		}
		if len(same) == 0 && d[2] != "" {
			same = byPhone[d[2]]
		}
		if len(same) == 0 {
			adds = append(adds, d)
			continue
		}
		for _, i := range same {
			matched[i] = true
		}
	}
	for i, m := range current {
		if !matched[i] {
			removes = append(removes, m)
		}
	}
	return adds, removes
}

// WaitGroupName is what WaitGroup is registered as and workflows call.
const WaitGroupName = "WaitGroup"

// WaitGroup polls a group until it has processed its last change. A group
// that failed fails the sync with Fynd's reason and error count.
func (a *Activities) WaitGroup(ctx context.Context, in GroupWaitInput) (GroupState, error) {
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return GroupState{}, err
	}
	var g fynd.Group
	err = steps.PollUntil(ctx, a.poll(in.Poll), func(polls int) (bool, error) {
		var err error
		g, err = c.GetGroup(ctx, in.GroupID)
		if err != nil {
			return false, a.fyndError(conn, err, "group %q", in.Spec.Group)
		}
		activity.RecordHeartbeat(ctx, waitProgress{Status: g.Status, Polls: polls})
		return g.Processed() || g.Failed(), nil
	})
	if err != nil {
		return GroupState{}, err
	}
	if g.Failed() {
		msg := fmt.Sprintf("fynd could not process group %q: status %s, %d errors", in.Spec.Group, g.Status, g.Error.Count)
		reasons := a.readErrorFile(ctx, g.Error.FileURL).first(3)
		if g.Error.Message != "" {
			reasons = append([]string{vendorapi.Trim(g.Error.Message)}, reasons...)
		}
		if len(reasons) > 0 {
			msg += ": " + strings.Join(reasons, "; ")
		}
		if g.Error.FileURL != "" {
			msg += " (error file " + source.Redact(g.Error.FileURL) + ")"
		}
		return GroupState{}, temporal.NewNonRetryableApplicationError(msg, failure.VendorJobFailed, nil)
	}
	return GroupState{Status: g.Status, ErrorCount: g.Error.Count}, nil
}

// RefreshGroupName is what RefreshGroup is registered as and workflows call.
const RefreshGroupName = "RefreshGroup"

// RefreshGroup asks Fynd to recount a group's members and notes the count
// before, so the wait can tell when the new one is in.
func (a *Activities) RefreshGroup(ctx context.Context, in RefreshInput) (RefreshStarted, error) {
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return RefreshStarted{}, err
	}
	g, err := c.GetGroup(ctx, in.GroupID)
	if err != nil {
		return RefreshStarted{}, a.fyndError(conn, err, "group %q", in.Spec.Group)
	}
	at := time.Now()
	if _, err := c.RefreshGroup(ctx, in.GroupID); err != nil {
		return RefreshStarted{}, a.fyndError(conn, err, "refresh the total users of group %q", in.Spec.Group)
	}
	return RefreshStarted{Before: totalUsers(g.TotalUsers), RequestedAt: at}, nil
}

func totalUsers(t fynd.TotalUsers) TotalUsers {
	return TotalUsers{Count: t.Count, UpdatedAt: t.UpdatedAt, Known: t.Known}
}

// WaitRefreshName is what WaitRefresh is registered as and workflows call.
const WaitRefreshName = "WaitRefresh"

// WaitRefresh polls until the group's total users is recomputed: its time
// moves past the one before the refresh or, where Fynd sends no time, its
// count changes or reaches the expected number.
func (a *Activities) WaitRefresh(ctx context.Context, in RefreshInput) (TotalUsers, error) {
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return TotalUsers{}, err
	}
	var now TotalUsers
	err = steps.PollUntil(ctx, a.poll(in.Poll), func(polls int) (bool, error) {
		g, err := c.GetGroup(ctx, in.GroupID)
		if err != nil {
			return false, a.fyndError(conn, err, "group %q", in.Spec.Group)
		}
		if g.Failed() {
			return false, temporal.NewNonRetryableApplicationError(fmt.Sprintf("fynd group %q failed while refreshing: status %s", in.Spec.Group, g.Status), failure.VendorJobFailed, nil)
		}
		now = totalUsers(g.TotalUsers)
		activity.RecordHeartbeat(ctx, waitProgress{Status: "count " + strconv.Itoa(now.Count), Polls: polls})
		if !now.UpdatedAt.IsZero() {
			return in.Before.UpdatedAt.IsZero() && now.Count == in.Expected || now.UpdatedAt.After(in.Before.UpdatedAt), nil
		}
		return now.Known && (now.Count != in.Before.Count || now.Count == in.Expected), nil
	})
	return now, err
}

// VerifyGroupName is what VerifyGroup is registered as and workflows call.
const VerifyGroupName = "VerifyGroup"

// VerifyGroup lists the group's members and compares them with the list.
// Members of the list that are not in the group are rejects, with Fynd's
// reason when its error file gives one: this is where users Fynd does not
// know end up.
func (a *Activities) VerifyGroup(ctx context.Context, in VerifyInput) (Verification, error) {
	store, err := a.artifacts()
	if err != nil {
		return Verification{}, err
	}
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return Verification{}, err
	}
	desired, err := readMembers(ctx, store, in.MembersFile, false)
	if err != nil {
		return Verification{}, err
	}
	current, err := a.listMembers(ctx, c, conn, in.GroupID, store, artifactKey(in.Spec, "listing-verify"))
	if err != nil {
		return Verification{}, err
	}
	missing, unexpected := diffMembers(desired, current)
	v := Verification{Expected: len(desired), Present: len(desired) - len(missing), Missing: len(missing), Unexpected: len(unexpected)}
	var rs []rejects.Reject
	if len(missing) > 0 {
		var ef errorFile
		if g, err := c.GetGroup(ctx, in.GroupID); err == nil {
			ef = a.readErrorFile(ctx, g.Error.FileURL)
		}
		// Error rows number the rows of the file the group last processed.
		var processed [][3]string
		if in.GroupFile != "" && len(ef.byRow) > 0 {
			if processed, err = readMembers(ctx, store, in.GroupFile, in.GroupFile != in.MembersFile); err != nil {
				return Verification{}, err
			}
		}
		rowOf := map[[3]string]int{}
		for i, p := range processed {
			rowOf[p] = i + 1
		}
		idx, err := a.loadLines(ctx, in.LinesFile)
		if err != nil {
			return Verification{}, err
		}
		for _, m := range missing {
			key, line := idx.find(m[0], m[1], m[2])
			reason := fmt.Sprintf("not in group %q after the sync", in.Spec.Group)
			why := ""
			for _, id := range m {
				if r := ef.byID[strings.ToLower(id)]; id != "" && r != "" {
					why = r
					break
				}
			}
			if why == "" {
				why = ef.byRow[rowOf[m]]
			}
			if why != "" {
				reason += ": " + why
			}
			rs = append(rs, rejects.Reject{Line: line, UserID: key, Vendor: AudienceVendor, Reason: reason})
		}
	}
	if err := a.Store.PutRejects(ctx, in.Spec.SyncKey, vendorRejectPrefix+"group", rejects.Stored(rs)); err != nil {
		return Verification{}, err
	}
	return v, nil
}

// errorFile is what a group's error file says. Its format is not
// documented, so it is read leniently as CSV: a reason column (reason,
// error or message), and an identifier column (user_id, email,
// phone_number, identifier) and/or a row column (row, the data row of the
// file the group processed, from 1). A row that names neither is about the
// file as a whole.
type errorFile struct {
	whole []string
	byRow map[int]string
	byID  map[string]string
}

// first lists up to n distinct reasons, whole-file ones first.
func (e errorFile) first(n int) []string {
	seen := map[string]bool{}
	var out []string
	add := func(r string) {
		if r != "" && !seen[r] && len(out) < n {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, r := range e.whole {
		add(r)
	}
	rows := make([]int, 0, len(e.byRow))
	for r := range e.byRow {
		rows = append(rows, r)
	}
	sort.Ints(rows)
	for _, r := range rows {
		add(e.byRow[r])
	}
	for _, r := range e.byID {
		add(r)
	}
	return out
}

// readErrorFile fetches and reads an error file; one that cannot be read
// says nothing, and the caller reports what it knows without it.
func (a *Activities) readErrorFile(ctx context.Context, url string) errorFile {
	out := errorFile{byRow: map[int]string{}, byID: map[string]string{}}
	if url == "" {
		return out
	}
	// The file is Fynd's: its request counts as one to the vendor.
	req, err := http.NewRequestWithContext(vendorcall.WithVendor(ctx, AudienceVendor), http.MethodGet, url, nil)
	if err != nil {
		return out
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	r := csv.NewReader(io.LimitReader(resp.Body, 64<<20))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return out
	}
	idCols, rowCol, reasonCol := []int{}, -1, -1
	for i, h := range head {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "user_id", "email", "phone_number", "identifier", "user":
			idCols = append(idCols, i)
		case "row", "row_number", "line":
			rowCol = i
		case "reason", "error", "message":
			reasonCol = i
		}
	}
	if reasonCol < 0 {
		return out
	}
	for {
		rec, err := r.Read()
		if err != nil {
			return out
		}
		if reasonCol >= len(rec) {
			continue
		}
		reason := vendorapi.Trim(rec[reasonCol])
		named := false
		for _, i := range idCols {
			if i < len(rec) && rec[i] != "" {
				out.byID[strings.ToLower(rec[i])] = reason
				named = true
			}
		}
		if rowCol >= 0 && rowCol < len(rec) {
			if n, err := strconv.Atoi(strings.TrimSpace(rec[rowCol])); err == nil && n > 0 {
				out.byRow[n] = reason
				named = true
			}
		}
		if !named {
			out.whole = append(out.whole, reason)
		}
	}
}

// lineIndex maps any identifier of a member to its key and source line.
type lineIndex struct {
	byIdent map[string]int
	keys    []string
	lines   []int64
}

func (x *lineIndex) find(idents ...string) (string, int64) {
	for _, id := range idents {
		if id == "" {
			continue
		}
		if i, ok := x.byIdent[strings.ToLower(id)]; ok {
			return x.keys[i], x.lines[i]
		}
	}
	for _, id := range idents {
		if id != "" {
			return id, 0
		}
	}
	return "", 0
}

func (a *Activities) loadLines(ctx context.Context, key string) (*lineIndex, error) {
	store, err := a.artifacts()
	if err != nil {
		return nil, err
	}
	rc, err := store.Open(ctx, key)
	if err != nil {
		return nil, failure.Classify(fmt.Errorf("read the lines file: %w", err), "")
	}
	defer rc.Close()
	r := csv.NewReader(rc)
	r.FieldsPerRecord = 2 + len(fynd.IdentifierFields)
	if _, err := r.Read(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the lines file has no header: "+err.Error(), failure.BadArtifact, nil)
	}
	x := &lineIndex{byIdent: map[string]int{}}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return x, nil
		}
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError("the lines file is unreadable: "+err.Error(), failure.BadArtifact, nil)
		}
		line, _ := strconv.ParseInt(rec[1], 10, 64)
		i := len(x.keys)
		x.keys, x.lines = append(x.keys, rec[0]), append(x.lines, line)
		for _, id := range rec[2:] {
			if id != "" {
				x.byIdent[strings.ToLower(id)] = i
			}
		}
	}
}

// FinishAudienceName is what FinishAudience is registered as and workflows call.
const FinishAudienceName = "FinishAudience"

// FinishAudience merges the vendor-side rejects into one line per member
// (a user Fynd does not know fails both the group and its attribute job),
// joins the rejects file, and deletes the sync's artifacts: they hold user
// data and have served their purpose.
func (a *Activities) FinishAudience(ctx context.Context, in FinishAudienceInput) (FinishedAudience, error) {
	if err := ownSync(ctx, in.Spec); err != nil {
		return FinishedAudience{}, err
	}
	var parts []rejects.Reject
	err := a.Store.Rejects(ctx, in.Spec.SyncKey, vendorRejectPrefix, func(_ string, r store.Reject) error {
		parts = append(parts, rejects.Reject(r))
		return nil
	})
	if err != nil {
		return FinishedAudience{}, err
	}
	merged := map[string]*rejects.Reject{}
	said := map[string]map[string]bool{} // user → the reasons merged for them
	var order []string
	for _, r := range parts {
		if m, ok := merged[r.UserID]; ok {
			if !said[r.UserID][r.Reason] {
				said[r.UserID][r.Reason] = true
				m.Reason += "; " + r.Reason
			}
			if r.Line > 0 && (m.Line == 0 || r.Line < m.Line) {
				m.Line = r.Line
			}
			continue
		}
		r := r
		merged[r.UserID] = &r
		said[r.UserID] = map[string]bool{r.Reason: true}
		order = append(order, r.UserID)
	}
	var out []rejects.Reject
	for _, k := range order {
		out = append(out, *merged[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	if len(out) > in.Members {
		return FinishedAudience{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("fynd refused %d members of the %d sent: the accounting does not add up", len(out), in.Members), failure.AccountingError, nil)
	}
	// The merged part replaces the vendor parts in one transaction; a
	// retry after it finds no vendor parts, keeps the merged one, and
	// counts what Fynd refused from it.
	if len(parts) > 0 {
		if err := a.Store.MergeRejects(ctx, in.Spec.SyncKey, vendorRejectPrefix, mergedVendorPart, rejects.Stored(out)); err != nil {
			return FinishedAudience{}, err
		}
	} else {
		err := a.Store.Rejects(ctx, in.Spec.SyncKey, mergedVendorPart, func(part string, r store.Reject) error {
			if part == mergedVendorPart {
				out = append(out, rejects.Reject(r))
			}
			return nil
		})
		if err != nil {
			return FinishedAudience{}, err
		}
	}
	n, err := a.Store.CountRejects(ctx, in.Spec.SyncKey)
	if err != nil {
		return FinishedAudience{}, err
	}
	if in.Rejected != nil && n < *in.Rejected+int64(len(out)) {
		return FinishedAudience{}, failure.NotShared(a.Store, fmt.Sprintf("the store holds %d of the %d rows this sync rejected", n, *in.Rejected+int64(len(out))))
	}
	if a.Artifacts != nil {
		own := artifactKey(in.Spec, "")
		for _, key := range in.Artifacts {
			if !strings.HasPrefix(key, own) || strings.Contains(key, "..") {
				// Only the sync's own files, under its own prefix.
				activity.GetLogger(ctx).Warn("not deleting an artifact that is not this sync's")
				continue
			}
			if err := a.Artifacts.Delete(ctx, key); err != nil {
				activity.GetLogger(ctx).Warn("could not delete an artifact", "key", key, "error", err)
			}
		}
	}
	return FinishedAudience{VendorRejected: len(out), Rejects: int(n)}, nil
}
