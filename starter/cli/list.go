package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"importer/activities/vendors"
	"importer/workflows"
)

// listFlags are the filters of `starter list`.
type listFlags struct {
	vendor   string
	status   string
	schedule string
	since    string
	limit    int
}

// listRow is one import or audience sync as `starter list` shows it.
type listRow struct {
	WorkflowID string     `json:"workflow_id"`
	RunID      string     `json:"run_id"`
	Type       string     `json:"type"` // import or audience
	Vendor     string     `json:"vendor"`
	Connection string     `json:"connection"`
	Schedule   string     `json:"schedule,omitempty"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
	Seconds    float64    `json:"seconds"`
	// From the result of a completed run.
	Rows     *int64 `json:"rows,omitempty"`
	Accepted *int64 `json:"accepted,omitempty"`
	Rejected *int64 `json:"rejected,omitempty"`
	// From the progress query of a running one, when a worker answered.
	RowsDone *int64 `json:"rows_done,omitempty"`
}

// listedTypes are the workflow types `starter list` shows, by the name it
// shows them under; the gate, pacer and lookup workflows are plumbing.
var listedTypes = map[string]string{
	workflows.ImportWorkflowName:   "import",
	workflows.AudienceWorkflowName: "audience",
}

// statusQueryValues maps what a user types to the ExecutionStatus values
// of Temporal's visibility queries.
var statusQueryValues = map[string]string{
	"running":    "Running",
	"completed":  "Completed",
	"failed":     "Failed",
	"canceled":   "Canceled",
	"cancelled":  "Canceled",
	"terminated": "Terminated",
	"timed-out":  "TimedOut",
	"timed out":  "TimedOut",
	"timedout":   "TimedOut",
}

// queryTimeout is how long `starter list` waits for a worker to answer the
// progress query of a running import before it shows the row without.
const queryTimeout = time.Second

func newListCmd(g *Globals) *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recent imports and audience syncs, newest first",
		Long: `List recent imports and audience syncs from Temporal's visibility store,
newest first: workflow ID, type, vendor, connection, status, start time and
duration. Completed runs show their rows, accepted and rejected counts; running
imports show the rows done so far when a worker answers within a second.

Filters use the importer's search attributes (ImporterVendor,
ImporterSchedule), so the namespace must have them (starter setup).`,
		Example: `  starter list
  starter list --vendor nebuly --status failed --since 24h
  starter list --schedule nightly-nebuly --limit 5 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			query, err := listQuery(f, time.Now())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			rows, err := listRuns(ctx, c, query, f.limit)
			if err != nil {
				return err
			}
			fillCounts(ctx, c, rows, time.Now())
			return g.printer().list(rows, listTable(rows))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.vendor, "vendor", "", "only this vendor: "+strings.Join(vendors.Names(), ", "))
	fl.StringVar(&f.status, "status", "", "only this status: running, completed, failed, canceled, terminated, timed-out")
	fl.StringVar(&f.schedule, "schedule", "", "only the runs this schedule started")
	fl.StringVar(&f.since, "since", "", "only runs started within DURATION (e.g. 90m, 24h, 7d)")
	fl.IntVar(&f.limit, "limit", 20, "show at most N runs")
	return cmd
}

// listTable is how people read the rows of `starter list`.
func listTable(rows []listRow) table {
	t := table{
		header: []string{"WORKFLOW ID", "TYPE", "VENDOR", "CONNECTION", "STATUS", "STARTED", "DURATION", "ROWS", "ACCEPTED", "REJECTED"},
		empty:  "No imports or audience syncs match.",
	}
	for _, r := range rows {
		rowsText := count(r.Rows)
		if r.RowsDone != nil {
			rowsText = num(*r.RowsDone) + " so far"
		}
		t.rows = append(t.rows, []string{r.WorkflowID, r.Type, dash(r.Vendor), dash(r.Connection), r.Status,
			timeText(r.StartedAt), durationText(time.Duration(r.Seconds * float64(time.Second))), rowsText, count(r.Accepted), count(r.Rejected)})
	}
	return t
}

// listQuery builds the visibility query of `starter list`.
func listQuery(f listFlags, now time.Time) (string, error) {
	if f.limit <= 0 {
		return "", errors.New("--limit must be positive")
	}
	names := make([]string, 0, len(listedTypes))
	for name := range listedTypes {
		names = append(names, "'"+name+"'")
	}
	sort.Strings(names)
	clauses := []string{"WorkflowType IN (" + strings.Join(names, ", ") + ")"}
	if f.vendor != "" {
		v := strings.ToLower(strings.TrimSpace(f.vendor))
		known := false
		for _, k := range vendors.Names() {
			known = known || k == v
		}
		if !known {
			return "", fmt.Errorf("unknown --vendor %q: choose one of %s", f.vendor, strings.Join(vendors.Names(), ", "))
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", workflows.SAVendor, v))
	}
	if f.status != "" {
		st, ok := statusQueryValues[strings.ToLower(strings.TrimSpace(f.status))]
		if !ok {
			return "", fmt.Errorf("unknown --status %q: use running, completed, failed, canceled, terminated or timed-out", f.status)
		}
		clauses = append(clauses, "ExecutionStatus = '"+st+"'")
	} else {
		// A run that continued as new is one step of an import whose
		// latest run is listed anyway.
		clauses = append(clauses, "ExecutionStatus != 'ContinuedAsNew'")
	}
	if f.schedule != "" {
		if strings.ContainsAny(f.schedule, `'"\`) {
			return "", fmt.Errorf("--schedule %q: a schedule ID with quotes or backslashes cannot be searched for", f.schedule)
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", workflows.SASchedule, f.schedule))
	}
	if f.since != "" {
		d, err := parseSince(f.since)
		if err != nil {
			return "", err
		}
		clauses = append(clauses, "StartTime > '"+now.Add(-d).UTC().Format(time.RFC3339Nano)+"'")
	}
	return strings.Join(clauses, " AND "), nil
}

// parseSince reads a Go duration, or a whole number of days ("7d").
func parseSince(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since %q: give a positive duration such as 90m, 24h or 7d", s)
	}
	return d, nil
}

// listRuns pages through the query's runs up to limit and returns them
// newest first.
func listRuns(ctx context.Context, c client.Client, query string, limit int) ([]listRow, error) {
	rows := []listRow{}
	var token []byte
	for len(rows) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: int32(limit - len(rows)), NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, fmt.Errorf("list workflows: %w", explainStart(err))
		}
		for _, e := range resp.GetExecutions() {
			if len(rows) < limit {
				rows = append(rows, rowOf(e))
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].StartedAt.After(rows[j].StartedAt) })
	return rows, nil
}

func rowOf(e *workflowpb.WorkflowExecutionInfo) listRow {
	r := listRow{
		WorkflowID: e.GetExecution().GetWorkflowId(),
		RunID:      e.GetExecution().GetRunId(),
		Type:       listedTypes[e.GetType().GetName()],
		Status:     statusName(e.GetStatus()),
		StartedAt:  e.GetStartTime().AsTime(),
	}
	if r.Type == "" {
		r.Type = e.GetType().GetName()
	}
	fields := e.GetSearchAttributes().GetIndexedFields()
	r.Vendor = keyword(fields, workflows.SAVendor)
	r.Connection = keyword(fields, workflows.SAConnection)
	r.Schedule = keyword(fields, workflows.SASchedule)
	if e.GetCloseTime() != nil && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		closed := e.GetCloseTime().AsTime()
		r.ClosedAt = &closed
		r.Seconds = closed.Sub(r.StartedAt).Seconds()
	}
	return r
}

// keyword reads a keyword search attribute; "" when the run has none.
func keyword(fields map[string]*commonpb.Payload, name string) string {
	p, ok := fields[name]
	if !ok {
		return ""
	}
	var s string
	// Search attributes are stored with the default converter whatever
	// data converter (encryption) the client uses for payloads.
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued as new"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// runCounts are the counts an import's and an audience sync's results
// share, and the rows done of either's progress.
type runCounts struct {
	RowsRead *int64 `json:"rows_read"`
	Accepted *int64 `json:"accepted"`
	Rejected *int64 `json:"rejected"`
	RowsDone *int64 `json:"rows_done"` // import progress
}

// fillCounts fetches the results of the completed runs shown and asks the
// running ones for their progress, a few at a time. A run whose result
// cannot be read, or that no worker answers for within queryTimeout, is
// shown without counts.
func fillCounts(ctx context.Context, c client.Client, rows []listRow, now time.Time) {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range rows {
		r := &rows[i]
		switch r.Status {
		case "running":
			r.Seconds = now.Sub(r.StartedAt).Seconds()
		case "completed":
		default:
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var rc runCounts
			if r.Status == "running" {
				v, err := c.QueryWorkflow(qctx, r.WorkflowID, r.RunID, workflows.ProgressQuery)
				if err != nil || v.Get(&rc) != nil {
					return
				}
				r.RowsDone = rc.RowsDone
				if r.RowsDone == nil {
					r.RowsDone = rc.RowsRead // an audience sync's progress
				}
				return
			}
			if err := c.GetWorkflow(ctx, r.WorkflowID, r.RunID).Get(ctx, &rc); err == nil {
				r.Rows, r.Accepted, r.Rejected = rc.RowsRead, rc.Accepted, rc.Rejected
			}
		}()
	}
	wg.Wait()
}

func count(n *int64) string {
	if n == nil {
		return "-"
	}
	return num(*n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func durationText(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
