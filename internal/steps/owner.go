package steps

import (
	"context"
	"strings"

	"go.temporal.io/sdk/activity"
)

// CallerOwns says whether key, the records key an activity was handed, is
// the calling workflow's own, as an import or a sync derives it: its
// workflow ID, '-' and up to 8 characters of its first run's ID. A
// workflow never takes the key from its input; activities check again, so
// that no input makes one write, replace or delete another run's records
// or files. Outside an activity (a dry run, a test calling a method) there
// is no caller to check, and it says true.
func CallerOwns(ctx context.Context, key string) bool {
	if !activity.IsActivity(ctx) {
		return true
	}
	rest, ok := strings.CutPrefix(key, activity.GetInfo(ctx).WorkflowExecution.ID+"-")
	return ok && len(rest) >= 1 && len(rest) <= 8 && !strings.ContainsAny(rest, "/\\")
}
