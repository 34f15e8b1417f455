package audience

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/internal/steps"
)

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
