package cli

import (
	"strings"
	"testing"
	"time"
)

func TestListQuery(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	base := "WorkflowType IN ('AudienceSync', 'Import')"
	cases := []struct {
		f    listFlags
		want string
	}{
		{listFlags{limit: 20}, base + " AND ExecutionStatus != 'ContinuedAsNew'"},
		{listFlags{limit: 20, vendor: "Nebuly", status: "Timed-Out"}, base + " AND ImporterVendor = 'nebuly' AND ExecutionStatus = 'TimedOut'"},
		{listFlags{limit: 20, vendor: "fynd", schedule: "nightly", since: "2d"},
			base + " AND ImporterVendor = 'fynd' AND ExecutionStatus != 'ContinuedAsNew' AND ImporterSchedule = 'nightly' AND StartTime > '2026-11-21T10:00:00Z'"},
		{listFlags{limit: 20, status: "cancelled", since: "90m"}, base + " AND ExecutionStatus = 'Canceled' AND StartTime > '2026-11-23T08:30:00Z'"},
	}
	for _, tc := range cases {
		got, err := listQuery(tc.f, now)
		if err != nil || got != tc.want {
			t.Errorf("%+v:\n got %q, %v\nwant %q", tc.f, got, err, tc.want)
		}
	}
	bad := []struct {
		f    listFlags
		want string
	}{
		{listFlags{limit: 0}, "--limit"},
		{listFlags{limit: 1, vendor: "acme"}, `unknown --vendor "acme"`},
		{listFlags{limit: 1, status: "done"}, `unknown --status "done"`},
		{listFlags{limit: 1, schedule: "x' OR 1=1"}, "quotes"},
		{listFlags{limit: 1, since: "-1h"}, "positive duration"},
		{listFlags{limit: 1, since: "yesterday"}, "positive duration"},
	}
	for _, tc := range bad {
		if _, err := listQuery(tc.f, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error with %q", tc.f, err, tc.want)
		}
	}
}
