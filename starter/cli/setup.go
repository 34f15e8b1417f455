package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"importer/internal/temporalclient"
	"importer/workflows"
)

func newSetupCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "setup",
		Short: "Register the importer's search attributes in a Temporal namespace",
		Long: `Register the importer's custom search attributes (ImporterVendor,
ImporterConnection, ImporterSource, ImporterSchedule) in the namespace, so the
Temporal UI can filter imports by vendor, connection, source and schedule.
Run it once per namespace of an existing cluster; "worker --dev" does it for
its embedded server. It is safe to run again.`,
		Example: "  starter setup\n  starter setup --address temporal.example.com:7233 --namespace imports",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			ns := g.namespaceOr(c)
			added, err := temporalclient.EnsureSearchAttributes(cmd.Context(), c, ns, workflows.SearchAttributes())
			if err != nil {
				return err
			}
			return g.printer().print(map[string]any{"namespace": ns, "added": added}, func(w io.Writer) {
				if len(added) == 0 {
					fmt.Fprintf(w, "Namespace %s already has every importer search attribute.\n", ns)
					return
				}
				fmt.Fprintf(w, "Registered in namespace %s: %s\n", ns, strings.Join(added, ", "))
			})
		},
	}
}
