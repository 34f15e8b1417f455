package audience

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
)

// LookupGroupsName lists or shows Fynd groups for the starter. The starter
// holds no vendor credentials, so it asks the worker, through a short
// workflow, to look; group names, states and counts are not user data.
const LookupGroupsName = "LookupGroups"

// GroupLookup asks for the groups of a connection: all of them, or the one
// whose name or id is Group.
type GroupLookup struct {
	Connection string `json:"connection,omitempty"`
	Group      string `json:"group,omitempty"`
}

// GroupInfo is what the starter shows of a group.
type GroupInfo struct {
	ID              string    `json:"id"`
	UID             int64     `json:"uid,omitempty"`
	Name            string    `json:"name"`
	Description     string    `json:"description,omitempty"`
	Status          string    `json:"status"`
	Processed       bool      `json:"processed"`
	Failed          bool      `json:"failed"`
	TotalUsers      int       `json:"total_users"`
	TotalUsersKnown bool      `json:"total_users_known"`
	CountedAt       time.Time `json:"counted_at,omitempty"`
	ErrorCount      int       `json:"error_count,omitempty"`
	ModifiedAt      time.Time `json:"modified_at,omitempty"`
}

// LookupGroups lists a connection's groups, or finds one by name or id.
func (a *Activities) LookupGroups(ctx context.Context, in GroupLookup) ([]GroupInfo, error) {
	conn, c, err := a.fyndConn(in.Connection)
	if err != nil {
		return nil, err
	}
	if in.Group == "" {
		groups, err := c.ListGroups(ctx)
		if err != nil {
			return nil, a.fyndError(conn, err, "list groups")
		}
		out := make([]GroupInfo, 0, len(groups))
		for _, g := range groups {
			out = append(out, groupInfo(g))
		}
		return out, nil
	}
	g, err := c.FindGroup(ctx, in.Group)
	if err != nil {
		return nil, a.fyndError(conn, err, "find group %q", in.Group)
	}
	if g == nil && !strings.ContainsAny(in.Group, " /") {
		// Not a name: it may be an id.
		byID, err := c.GetGroup(ctx, in.Group)
		if err == nil {
			g = &byID
		}
	}
	if g == nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("fynd has no group named %q", in.Group), failure.NotFound, nil)
	}
	// The listing may be abridged; the group itself has every field.
	full, err := c.GetGroup(ctx, g.ID)
	if err != nil {
		return nil, a.fyndError(conn, err, "read group %q", in.Group)
	}
	return []GroupInfo{groupInfo(full)}, nil
}

func groupInfo(g fynd.Group) GroupInfo {
	return GroupInfo{ID: g.ID, UID: int64(g.UID), Name: g.Name, Description: g.Description, Status: g.Status,
		Processed: g.Processed(), Failed: g.Failed(), TotalUsers: g.TotalUsers.Count, TotalUsersKnown: g.TotalUsers.Known,
		CountedAt: g.TotalUsers.UpdatedAt, ErrorCount: g.Error.Count, ModifiedAt: g.ModifiedAt}
}
