package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"importer/workflows"
)

func newStatusCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status WORKFLOW_ID",
		Short: "Show an import's progress, or its summary when it has ended",
		Example: `  starter status import-nebuly-users-20261123-101500
  starter status import-nebuly-users-20261123-101500 -o json`,
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
				return showRun(ctx, g, c, id, running, audienceKind())
			}
			return showRun(ctx, g, c, id, running, importKind())
		},
	}
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
