package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"importer/workflows"
)

func newStatusCmd(g *Globals) *cobra.Command {
	var live bool
	cmd := &cobra.Command{
		Use:   "status WORKFLOW_ID",
		Short: "Show an import's progress, or its summary when it has ended; --follow follows it live",
		Long: `Show an import's progress, or its summary when it has ended. An audience
sync's ID shows the sync.

--follow picks a running import up again: one started without --wait, one
detached from with Ctrl-C, one a schedule started (starter list shows their
IDs). It shows the live progress of import --wait until the import ends,
across the runs it continues as new, then the same summary and exit code:
0 when it completed (even with rejected rows), 1 when it failed or was
canceled. Ctrl-C stops following; the import goes on. With -o json the
progress goes to stderr and the summary to stdout as one JSON object. An
import that has already ended prints its final status, as without --follow.`,
		Example: `  starter status import-nebuly-users-20261123-101500
  starter status import-nebuly-users-20261123-101500 --follow
  starter status import-nebuly-users-20261123-101500 --follow -o json > summary.json
  starter status audience-default-vip-customers --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := args[0]
			desc, err := c.DescribeWorkflowExecution(ctx, id, "")
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return fmt.Errorf("no import with workflow ID %q in namespace %s", id, g.namespaceOr(c))
			}
			if err != nil {
				return fmt.Errorf("describe %s: %w", id, err)
			}
			info := desc.GetWorkflowExecutionInfo()
			running := info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			if info.GetType().GetName() == workflows.AudienceWorkflowName {
				return statusOf(ctx, g, c, id, running, live, audienceKind())
			}
			return statusOf(ctx, g, c, id, running, live, importKind())
		},
	}
	cmd.Flags().BoolVar(&live, "follow", false, "follow a running import (or audience sync) live until it ends, then print its summary")
	return cmd
}

// statusOf shows a run's status once, or, with live and while it runs,
// follows it to its end as --wait does. A run that has ended shows its
// final status either way.
func statusOf[P, R any](ctx context.Context, g *Globals, c client.Client, id string, running, live bool, k runKind[P, R]) error {
	if !running || !live {
		return showRun(ctx, g, c, id, running, k)
	}
	// Like "Started ..." before --wait's display: on stderr in any output,
	// since the live display follows it there.
	fmt.Fprintf(g.stderr, "Following %s %s\n  UI: %s\n", strings.ToLower(k.name), id, g.workflowLink(c, id))
	return follow(ctx, c, g, id, true, k)
}

func newCancelCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel WORKFLOW_ID",
		Short: "Cancel a running import",
		Long: `Cancel a running import. Chunks in flight stop at their next heartbeat;
rows already delivered stay delivered, and the rejects so far are kept.`,
		Example: "  starter cancel import-nebuly-users-20261123-101500",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := args[0]
			if err := c.CancelWorkflow(ctx, id, ""); err != nil {
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					return fmt.Errorf("no running import with workflow ID %q in namespace %s", id, g.namespaceOr(c))
				}
				return fmt.Errorf("cancel %s: %w", id, err)
			}
			return g.printer().print(map[string]string{"workflow_id": id, "status": "cancel requested"}, func(w io.Writer) {
				fmt.Fprintf(w, "Cancel requested for %s; chunks in flight stop at their next heartbeat.\n", id)
			})
		},
	}
}
