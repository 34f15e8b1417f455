package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"importer/activities/fynd/audience"
	"importer/activities/source"
	"importer/workflows"
)

// AudienceOptions are the flags of `audience sync`.
type AudienceOptions struct {
	Group       string
	Connection  string
	Source      string
	Format      string
	MappingFile string
	Description string
	Category    string
	KeepMissing bool
	MaxSets     int
	Deadline    time.Duration
	ID          string
	Wait        bool
	NotifyOptions
}

func newAudienceCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audience",
		Short: "Sync user lists into Fynd audiences (a user group plus user attributes)",
		Long: `An audience is a Fynd user group plus user attributes in one Fynd application.

"audience sync" makes a group hold exactly the users of a list (CSV or NDJSON)
and sets the list's attribute columns on them: it creates the attribute
definitions it needs, runs Fynd's bulk attribute jobs, creates the group (or,
when a group of that name exists, patches it with what to add and remove),
waits for Fynd to process it, refreshes its total users and lists its members
to verify. The worker holds the Fynd credentials (IMPORTER_FYND_*).`,
	}
	cmd.AddCommand(newAudienceSyncCmd(g), newAudienceStatusCmd(g), newAudienceGroupsCmd(g), newAudienceShowCmd(g))
	return cmd
}

func newAudienceSyncCmd(g *Globals) *cobra.Command {
	var f AudienceOptions
	cmd := &cobra.Command{
		Use:   "sync --group NAME --source FILE|URL",
		Short: "Make a Fynd user group match a user list and set its attributes",
		Long: `Make a Fynd user group match a user list and set user attributes from it.

Columns (or mapped fields): user_id, email and/or phone_number name the user
(at least one per row); attributes.<slug> columns hold attribute values. The
mapping file renames columns like the import's and may declare attributes:

  fields:
    email: Email
    attributes.loyalty_tier: tier
  attributes:
    loyalty_tier: {name: Loyalty tier, type: string, description: From the CRM}

Types are string (default), number, boolean and date (YYYY-MM-DD). Fynd's bulk
update gives every user of a file the same values, so users are grouped by
their combination of values: one job per combination (--max-attribute-sets).

Only one sync of a group runs at a time. Rows that are invalid, repeated, or
that Fynd did not take (a user it does not know) go to the rejects file.`,
		Example: `  starter audience sync --group "VIP customers" --source vip.csv --mapping audience.yaml --wait
  starter audience sync --group spring-sale --source https://example.com/list.ndjson --keep-missing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, id, err := PrepareAudience(f)
			if err != nil {
				return err
			}
			if err := checkSealed(in.Source.URI); err != nil {
				return err
			}
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			run, err := c.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{
				ID:                       id,
				TaskQueue:                g.taskQueue,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				StaticSummary:            fmt.Sprintf("Sync Fynd group %q (%s) from %s", in.Group, in.Connection, displaySource(in.Source.URI)),
				TypedSearchAttributes:    searchAttributes(audience.AudienceVendor, in.Connection, in.Source.URI, ""),
			}, workflows.AudienceWorkflowName, in)
			var started *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &started) {
				return fmt.Errorf("a sync of group %q is already running (workflow %s); follow it with: starter audience status --follow %s", in.Group, id, id)
			}
			if err != nil {
				return fmt.Errorf("start audience sync: %w", explainStart(err))
			}
			if err := announce(g, c, "audience sync", run, "starter audience status --follow", f.Wait); err != nil {
				return err
			}
			if !f.Wait {
				return nil
			}
			return FollowAudience(cmd.Context(), c, g, run.GetID(), true)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Group, "group", "", "the Fynd user group to sync (created if it does not exist)")
	fl.StringVar(&f.Connection, "connection", "default", "the worker's Fynd connection (application)")
	fl.StringVar(&f.Source, "source", "", "the user list: a local path, an http(s) URL, or an s3://, gs:// or azblob:// object")
	fl.StringVar(&f.Format, "format", "", "csv, ndjson or parquet (default: from the source's extension)")
	fl.StringVar(&f.MappingFile, "mapping", "", "a mapping file: column renames and attribute definitions")
	fl.StringVar(&f.Description, "description", "", "the group's description when it is created")
	fl.StringVar(&f.Category, "category", audience.DefaultGroupCategory, "the group's category when it is created")
	fl.BoolVar(&f.KeepMissing, "keep-missing", false, "leave members that are not in the list (default: remove them)")
	fl.IntVar(&f.MaxSets, "max-attribute-sets", 100, "most distinct combinations of attribute values (one Fynd job each)")
	fl.DurationVar(&f.Deadline, "deadline", workflows.DefaultAudienceDeadline, "how long each step, waits included, may take before the sync fails")
	fl.StringVar(&f.ID, "id", "", "workflow ID (default: audience-<connection>-<group>)")
	fl.BoolVar(&f.Wait, "wait", false, "follow the sync with a live display and print the summary")
	addNotifyFlags(fl, &f.NotifyOptions)
	_ = cmd.MarkFlagRequired("group")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// PrepareAudience checks a sync's flags and builds its input and ID.
func PrepareAudience(f AudienceOptions) (workflows.AudienceInput, string, error) {
	var in workflows.AudienceInput
	group := strings.TrimSpace(f.Group)
	if group == "" {
		return in, "", errors.New("--group is empty: name the Fynd user group to sync")
	}
	if f.MaxSets <= 0 || f.Deadline <= 0 {
		return in, "", errors.New("--max-attribute-sets and --deadline must be positive")
	}
	spec, err := f.spec()
	if err != nil {
		return in, "", err
	}
	uri, format, m, err := loadSource(f.Source, f.Format, f.MappingFile)
	if err != nil {
		return in, "", err
	}
	if c, _ := source.DetectCompression(uri, ""); c != "" {
		return in, "", fmt.Errorf("an audience sync reads plain CSV or NDJSON, and %s is %s-compressed: decompress it first", source.Redact(uri), c)
	}
	conn := f.Connection
	if conn == "" {
		conn = "default"
	}
	in = workflows.AudienceInput{
		Connection: conn, Group: group, Description: f.Description, Category: f.Category,
		Source: source.Ref{URI: uri, Format: format}, Mapping: m,
		KeepMissing: f.KeepMissing, MaxAttributeSets: f.MaxSets, Deadline: f.Deadline,
		Notify: spec,
	}
	id := f.ID
	if id == "" {
		id = "audience-" + conn + "-" + slug(group)
	}
	return in, id, nil
}

// slug keeps a name readable in a workflow ID.
func slug(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// FollowAudience shows a sync's progress until it ends, then its summary.
// Ctrl-C detaches: the sync goes on in Temporal.
func FollowAudience(ctx context.Context, c client.Client, g *Globals, id string, detachable bool) error {
	return follow(ctx, c, g, id, detachable, audienceKind())
}

func audienceKind() runKind[workflows.AudienceProgress, workflows.AudienceResult] {
	return runKind[workflows.AudienceProgress, workflows.AudienceResult]{
		name: "Audience sync",
		line: audienceLine,
		summary: func(res workflows.AudienceResult, link string) (any, func(io.Writer)) {
			return map[string]any{"status": "completed", "result": res}, func(w io.Writer) { printAudience(w, res, link) }
		},
		detached: "Detached; the sync goes on. Follow it again with: starter audience status --follow %s\n",
	}
}

func audienceLine(p workflows.AudienceProgress) string {
	var b strings.Builder
	b.WriteString(p.Phase)
	if p.Waiting != "" {
		fmt.Fprintf(&b, " (waiting for %s)", p.Waiting)
	}
	if p.RowsRead > 0 {
		fmt.Fprintf(&b, " · %s rows · %s members · %s rejected", num(p.RowsRead), num(int64(p.Members)), num(p.Rejected))
	}
	if p.Jobs > 0 {
		fmt.Fprintf(&b, " · attribute jobs %d/%d", p.JobsDone, p.Jobs)
	}
	fmt.Fprintf(&b, " · %s", time.Since(p.StartedAt).Round(time.Second))
	return b.String()
}

func printAudience(w io.Writer, res workflows.AudienceResult, link string) {
	fmt.Fprintf(w, "Audience sync %s completed in %s\n", res.WorkflowID, res.FinishedAt.Sub(res.StartedAt).Round(10*time.Millisecond))
	fmt.Fprintf(w, "  group         %s (id %s, %s: +%s -%s)\n", res.Group, res.GroupID, res.Mode, num(int64(res.Added)), num(int64(res.Removed)))
	fmt.Fprintf(w, "  source        %s\n", displaySource(res.Source))
	fmt.Fprintf(w, "  rows read     %s\n", num(res.RowsRead))
	fmt.Fprintf(w, "  accepted      %s\n", num(res.Accepted))
	fmt.Fprintf(w, "  rejected      %s\n", num(res.Rejected))
	for _, a := range res.Attributes {
		fmt.Fprintf(w, "  attribute     %s (%s)\n", a.Slug, a.Action)
	}
	fmt.Fprintf(w, "  jobs          %d bulk attribute jobs\n", res.AttributeJobs)
	fmt.Fprintf(w, "  total users   %s (as Fynd counts them after the refresh)\n", num(int64(res.TotalUsers)))
	v := res.Verified
	fmt.Fprintf(w, "  verified      %s of %s members present, %s missing, %s not in the list\n", num(int64(v.Present)), num(int64(v.Expected)), num(int64(v.Missing)), num(int64(v.Unexpected)))
	if res.RejectsCommand != "" {
		fmt.Fprintf(w, "  rejects       %s\n", res.RejectsCommand)
	}
	fmt.Fprintf(w, "  UI            %s\n", link)
}

func newAudienceStatusCmd(g *Globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "status WORKFLOW_ID",
		Short: "Show an audience sync's progress, or its summary when it has ended",
		Example: `  starter audience status audience-default-vip-customers
  starter audience status audience-default-vip-customers --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			if follow {
				return FollowAudience(cmd.Context(), c, g, args[0], true)
			}
			desc, err := c.DescribeWorkflowExecution(cmd.Context(), args[0], "")
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return fmt.Errorf("no audience sync with workflow ID %q in namespace %s", args[0], g.namespaceOr(c))
			}
			if err != nil {
				return fmt.Errorf("describe %s: %w", args[0], err)
			}
			running := desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			return showRun(cmd.Context(), g, c, args[0], running, audienceKind())
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "follow a running sync until it ends")
	return cmd
}

// lookupGroups runs the lookup workflow and returns its answer.
func lookupGroups(ctx context.Context, g *Globals, in audience.GroupLookup) ([]audience.GroupInfo, string, error) {
	c, err := g.dial(ctx)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       fmt.Sprintf("audience-lookup-%d", time.Now().UnixNano()),
		TaskQueue:                g.taskQueue,
		WorkflowExecutionTimeout: 3 * time.Minute,
		StaticSummary:            "Look up Fynd groups for the starter",
	}, workflows.AudienceLookupWorkflowName, in)
	if err != nil {
		return nil, "", fmt.Errorf("ask the worker: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var out []audience.GroupInfo
	if err := run.Get(wctx, &out); err != nil {
		msg := explainFailure("lookup", err).message
		if wctx.Err() != nil {
			msg = "no worker answered within 3 minutes (is one running on task queue " + g.taskQueue + "?)"
		}
		return nil, "", errors.New(msg)
	}
	return out, g.workflowLink(c, run.GetID()), nil
}

func newAudienceGroupsCmd(g *Globals) *cobra.Command {
	var conn string
	cmd := &cobra.Command{
		Use:     "groups",
		Short:   "List the Fynd user groups of a connection with their state and total users",
		Example: "  starter audience groups\n  starter audience groups --connection eu -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			groups, _, err := lookupGroups(cmd.Context(), g, audience.GroupLookup{Connection: conn})
			if err != nil {
				return err
			}
			t := table{header: []string{"NAME", "ID", "STATUS", "TOTAL USERS", "MODIFIED"}, empty: "No groups."}
			for _, gr := range groups {
				t.rows = append(t.rows, []string{gr.Name, gr.ID, gr.Status, totalText(gr), timeText(gr.ModifiedAt)})
			}
			return g.printer().list(groups, t)
		},
	}
	cmd.Flags().StringVar(&conn, "connection", "default", "the worker's Fynd connection (application)")
	return cmd
}

func newAudienceShowCmd(g *Globals) *cobra.Command {
	var conn string
	cmd := &cobra.Command{
		Use:     "show NAME|ID",
		Short:   "Show one Fynd user group: its state, total users and errors",
		Example: "  starter audience show \"VIP customers\"\n  starter audience show 64f111111111111111111111 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			groups, _, err := lookupGroups(cmd.Context(), g, audience.GroupLookup{Connection: conn, Group: args[0]})
			if err != nil {
				return err
			}
			gr := groups[0]
			return g.printer().print(gr, func(w io.Writer) { printGroup(w, gr) })
		},
	}
	cmd.Flags().StringVar(&conn, "connection", "default", "the worker's Fynd connection (application)")
	return cmd
}

func printGroup(w io.Writer, gr audience.GroupInfo) {
	fmt.Fprintf(w, "Group %s\n", gr.Name)
	fmt.Fprintf(w, "  id           %s (uid %d)\n", gr.ID, gr.UID)
	fmt.Fprintf(w, "  status       %s\n", gr.Status)
	fmt.Fprintf(w, "  total users  %s\n", totalText(gr))
	if gr.ErrorCount > 0 {
		fmt.Fprintf(w, "  errors       %d rows Fynd could not use\n", gr.ErrorCount)
	}
	if gr.Description != "" {
		fmt.Fprintf(w, "  description  %s\n", gr.Description)
	}
	fmt.Fprintf(w, "  modified     %s\n", timeText(gr.ModifiedAt))
}

func totalText(gr audience.GroupInfo) string {
	if !gr.TotalUsersKnown {
		return "unknown"
	}
	s := num(int64(gr.TotalUsers))
	if !gr.CountedAt.IsZero() {
		s += " (counted " + timeText(gr.CountedAt) + ")"
	}
	return s
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
