package audience

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/internal/steps"
)

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
