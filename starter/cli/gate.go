package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"

	"importer/activities/vendors"
	"importer/workflows/gate"
)

func newGateCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
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
			if err := vendors.Check(vendor); err != nil {
				return err
			}
			if t, _ := vendors.Traits(vendor); !t.Gated {
				return fmt.Errorf("%s has no gate: its bulk calls may run in parallel", vendor)
			}
			ctx := cmd.Context()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := gate.ID(vendor, connection)
			p := g.printer()
			v, err := c.QueryWorkflow(ctx, id, "", gate.StateQuery)
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return p.print(map[string]any{"gate": id, "running": false}, func(w io.Writer) {
					fmt.Fprintf(w, "Gate %s has not started: no import has used %s/%s yet.\n", id, vendor, connection)
				})
			}
			if err != nil {
				return fmt.Errorf("query gate %s (is a worker running?): %w", id, err)
			}
			var s gate.Status
			if err := v.Get(&s); err != nil {
				return fmt.Errorf("read gate %s: %w", id, err)
			}
			return p.print(gateView(id, s, g.workflowLink(c, id)))
		},
	}
	status.Flags().StringVar(&vendor, "vendor", "", "the vendor: bitlabs or userpilot")
	status.Flags().StringVar(&connection, "connection", "default", "the worker's connection (account) at the vendor")
	_ = status.MarkFlagRequired("vendor")
	cmd.AddCommand(status)
	return cmd
}

// gateView is a running gate's state as -o json prints it, and as people
// read it.
func gateView(id string, s gate.Status, link string) (any, func(w io.Writer)) {
	return map[string]any{"gate": id, "running": true, "state": s}, func(w io.Writer) {
		fmt.Fprintf(w, "Gate %s\n", id)
		if s.Holder == nil {
			fmt.Fprintln(w, "  holder   none (free)")
		} else {
			fmt.Fprintf(w, "  holder   %s, %s, for %s\n", s.Holder.WorkflowID, s.Holder.Label, s.HeldFor.Round(time.Millisecond))
		}
		fmt.Fprintf(w, "  waiting  %d\n", len(s.Queue))
		for i, q := range s.Queue {
			fmt.Fprintf(w, "    %d. %s, %s, asked %s\n", i+1, q.WorkflowID, q.Label, q.AskedAt.Local().Format(time.TimeOnly))
		}
		fmt.Fprintf(w, "  grants   %d (leases taken back from dead holders: %d)\n", s.Grants, s.TakenBack)
		fmt.Fprintf(w, "  UI       %s\n", link)
	}
}
