package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"

	"importer/activities"
	"importer/workflows"
)

func newGateCmd(g *Globals) *cobra.Command {
	gate := &cobra.Command{
		Use:   "gate",
		Short: "Inspect the gates that serialise bulk work per vendor account",
		Long: `BitLabs runs one bulk import at a time per account and Userpilot one bulk
job. Imports into such a vendor take turns through a gate: one workflow per
vendor account (ID gate/<vendor>/<connection>) that grants the account to one
import chunk at a time, in the order asked.`,
	}
	var vendor, connection string
	status := &cobra.Command{
		Use:     "status",
		Short:   "Show who holds a vendor account's gate, for how long, and who waits",
		Example: "  starter gate status --vendor bitlabs\n  starter gate status --vendor userpilot --connection eu -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := activities.CheckVendor(vendor); err != nil {
				return err
			}
			if t, _ := activities.VendorTraits(vendor); !t.Gated {
				return fmt.Errorf("%s has no gate: its bulk calls may run in parallel", vendor)
			}
			ctx := cmd.Context()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := workflows.GateID(vendor, connection)
			v, err := c.QueryWorkflow(ctx, id, "", workflows.GateStateQuery)
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				if g.output == "json" {
					return printJSON(g.stdout, map[string]any{"gate": id, "running": false})
				}
				fmt.Fprintf(g.stdout, "Gate %s has not started: no import has used %s/%s yet.\n", id, vendor, connection)
				return nil
			}
			if err != nil {
				return fmt.Errorf("query gate %s (is a worker running?): %w", id, err)
			}
			var s workflows.GateStatus
			if err := v.Get(&s); err != nil {
				return fmt.Errorf("read gate %s: %w", id, err)
			}
			if g.output == "json" {
				return printJSON(g.stdout, map[string]any{"gate": id, "running": true, "state": s})
			}
			fmt.Fprintf(g.stdout, "Gate %s\n", id)
			if s.Holder == nil {
				fmt.Fprintln(g.stdout, "  holder   none (free)")
			} else {
				fmt.Fprintf(g.stdout, "  holder   %s, %s, for %s\n", s.Holder.WorkflowID, s.Holder.Label, s.HeldFor.Round(time.Millisecond))
			}
			fmt.Fprintf(g.stdout, "  waiting  %d\n", len(s.Queue))
			for i, q := range s.Queue {
				fmt.Fprintf(g.stdout, "    %d. %s, %s, asked %s\n", i+1, q.WorkflowID, q.Label, q.AskedAt.Local().Format(time.TimeOnly))
			}
			fmt.Fprintf(g.stdout, "  grants   %d (leases taken back from dead holders: %d)\n", s.Grants, s.TakenBack)
			fmt.Fprintf(g.stdout, "  UI       %s\n", g.workflowLink(c, id))
			return nil
		},
	}
	status.Flags().StringVar(&vendor, "vendor", "", "the vendor: bitlabs or userpilot")
	status.Flags().StringVar(&connection, "connection", "default", "the worker's connection (account) at the vendor")
	_ = status.MarkFlagRequired("vendor")
	gate.AddCommand(status)
	return gate
}
