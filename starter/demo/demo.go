// Package demo is the starter's one-command demo: an embedded Temporal
// server and UI, sandbox vendors, a worker and an import, in one process. It
// is the only part of the starter that links the Temporal server.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"importer/activities/imports"
	"importer/activities/source"
	"importer/activities/vendors"
	"importer/activities/vendors/gen"
	"importer/activities/vendors/sandbox"
	"importer/internal/connections"
	"importer/internal/devserver"
	"importer/internal/store"
	"importer/internal/temporalclient"
	"importer/starter/cli"
	"importer/worker/workerrun"
	"importer/workflows"
)

type demoFlags struct {
	vendor  string
	rows    int
	exit    bool
	port    int
	uiPort  int
	dataDir string
	latency time.Duration
}

// NewCommand is the demo subcommand.
func NewCommand(g *cli.Globals) *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole import on this machine: Temporal, its UI, a worker and sandbox vendors",
		Long: `Run a whole import on this machine with nothing else installed.

demo starts an embedded Temporal server (in memory) with its web UI, fake
vendor servers that follow the vendors' documented rules, and a worker, all in
this process. It generates a user list with some invalid rows, imports it into
the sandbox vendor (Nebuly unless --vendor says otherwise) with a live progress
display, and prints the summary. The UI stays up for you to look around until
Ctrl-C, unless --exit is given.

The sandbox vendors keep their documented limits: BitLabs and Userpilot take one
bulk at a time (watch the gate workflow), and Dynamic 150 bulk requests a minute
(watch the pacer workflow), so a Dynamic demo of 100,000 rows lasts about 40 s.`,
		Example: `  go run ./starter demo
  go run ./starter demo --vendor dynamic --rows 20000
  go run ./starter demo --rows 200000 --exit -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.vendor, "vendor", importVendors()[0], "the sandbox vendor to import into: "+oneOf(importVendors()))
	fl.IntVar(&f.rows, "rows", 100000, "rows in the generated user list")
	fl.BoolVar(&f.exit, "exit", false, "exit when the import is done instead of keeping the UI up")
	fl.IntVar(&f.port, "port", 7233, "Temporal frontend port (a free one is used if it is taken)")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "Temporal web UI port (a free one is used if it is taken)")
	fl.StringVar(&f.dataDir, "data-dir", filepath.Join(".importer", "demo"), "where the generated list and the store of rejects (importer.db) go")
	fl.DurationVar(&f.latency, "latency", 50*time.Millisecond, "delay added to every sandbox vendor call, as a real vendor would take")
	return cmd
}

func runDemo(cmd *cobra.Command, g *cli.Globals, f demoFlags) error {
	ctx := cmd.Context()
	if f.rows <= 0 {
		return errors.New("--rows must be positive")
	}
	if !slices.Contains(importVendors(), f.vendor) {
		return notImported(f.vendor)
	}
	log := g.Logger()
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}

	srv, err := devserver.Start(ctx, devserver.Options{
		FrontendPort:     portOrFree(f.port),
		UIPort:           portOrFree(f.uiPort),
		SearchAttributes: workflows.SearchAttributes(),
		// The server's warnings (pollers closing at shutdown) are not the
		// user's business; errors are.
		Logger: log.Level(zerolog.ErrorLevel),
	})
	if err != nil {
		return err
	}
	defer srv.Stop()
	sb, err := sandbox.Start(sandbox.Options{Latency: f.latency})
	if err != nil {
		return err
	}
	defer sb.Close()
	fmt.Fprintf(g.Stderr(), "Temporal UI:       %s\nTemporal frontend: %s\nSandbox vendors:   %s\n\n", srv.UIAddress(), srv.FrontendAddress(), sb.URL)

	// The list goes where the demo's worker may read it, and nowhere
	// else: its own files (the store, staging) stay out of its reach.
	lists := filepath.Join(f.dataDir, "lists")
	if err := os.MkdirAll(lists, 0o700); err != nil {
		return fmt.Errorf("create the list directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(lists, "demo-"+f.vendor+"-users.csv"))
	if err != nil {
		return err
	}
	sources, err := source.NewPolicy([]string{lists}, nil)
	if err != nil {
		return err
	}
	sources.AllowLoopback = true // the sandbox vendors
	genOpts := gen.Options{Rows: f.rows, InvalidEvery: 200, QuotedNewlineEvery: 50}
	st, err := gen.VendorFile(f.vendor, path, genOpts)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr(), "Generated %s: %s rows (%s of them invalid on purpose), %s bytes\n",
		path, cli.Num(int64(st.Rows)), cli.Num(int64(st.Invalid)), cli.Num(st.Bytes))

	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	records, err := store.Open(ctx, store.Options{DataDir: f.dataDir})
	if err != nil {
		return err
	}
	defer records.Close()
	w, err := workerrun.Start(c, workerrun.Options{
		TaskQueue:   g.TaskQueue(),
		Connections: sb.Connections(connections.FromOS(vendors.ImportNames())),
		Store:       records,
		DataDir:     filepath.Join(f.dataDir, "worker"),
		Logger:      log,
		Sources:     sources,
	})
	if err != nil {
		return err
	}
	defer w.Stop()

	g.UseServer(srv.UIAddress(), srv.Namespace())
	in, id, err := cli.PrepareImport(cli.ImportOptions{
		Vendor: f.vendor, Connection: connections.Default, Source: path,
		BatchSize: imports.DefaultBatchSize, Concurrency: workflows.DefaultConcurrency,
		VendorDeadline: workflows.DefaultVendorDeadline,
	})
	if err != nil {
		return err
	}
	run, err := cli.StartImport(ctx, c, g, id, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr(), "Started import %s\n  UI: %s\n", run.GetID(), g.WorkflowLink(c, run.GetID()))
	ferr := cli.Follow(ctx, c, g, run.GetID(), false)
	if ctx.Err() != nil {
		fmt.Fprintln(g.Stderr(), "Stopping.")
		return ferr
	}
	if ferr == nil {
		held := sb.Vendor(f.vendor).Count()
		fmt.Fprintf(g.Stderr(), "The sandbox %s now holds %s users; the list had %s valid rows.\n",
			f.vendor, cli.Num(int64(held)), cli.Num(int64(st.Valid)))
		if err := showSomeRejects(ctx, g, records, run.GetID(), run.GetRunID()); err != nil {
			return err
		}
	}
	if f.exit {
		return ferr
	}
	fmt.Fprintf(g.Stderr(), "\nThe Temporal UI stays up at %s; press Ctrl-C to stop.\n", srv.UIAddress())
	<-ctx.Done()
	fmt.Fprintln(g.Stderr(), "Stopping.")
	return ferr
}

// importVendors are the vendors a demo can import into, in the registry's
// order: those that take imports.
func importVendors() []string {
	var names []string
	for _, e := range vendors.All() {
		if e.Import != nil {
			names = append(names, e.Spec.Name)
		}
	}
	return names
}

// notImported says that the demo cannot import into vendor, and where the
// lists of the vendors that take no imports go.
func notImported(vendor string) error {
	var audiences []string
	for _, e := range vendors.All() {
		if e.Spec.Traits.Audiences {
			audiences = append(audiences, e.Spec.Name)
		}
	}
	msg := fmt.Sprintf("the demo imports into %s, not %q", oneOf(importVendors()), vendor)
	if len(audiences) > 0 {
		msg += fmt.Sprintf(" (%s audiences: see `starter audience sync`)", oneOf(audiences))
	}
	return errors.New(msg)
}

// oneOf lists names as "a, b or c".
func oneOf(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// portOrFree keeps the demo working when a Temporal dev server (or an
// earlier demo) already holds the usual port.
func portOrFree(port int) int {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil {
		l.Close()
		return port
	}
	return 0
}

// showSomeRejects prints how many rejected rows the store holds for the
// import, and the first few, so the demo shows where they went.
func showSomeRejects(ctx context.Context, g *cli.Globals, records *store.Store, id, firstRun string) error {
	key := id + "-" + firstRun[:min(8, len(firstRun))]
	n, err := records.CountRejects(ctx, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.Stderr(), "%s rejected rows are in %s; the first ones:\n", cli.Num(n), records.Describe())
	shown := 0
	stop := errors.New("enough")
	err = records.Rejects(ctx, key, "", func(_ string, r store.Reject) error {
		if shown == 3 {
			return stop
		}
		shown++
		fmt.Fprintf(g.Stderr(), "  line %d  %s  %s\n", r.Line, r.UserID, r.Reason)
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return err
	}
	return nil
}
