package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"

	"importer/activities/imports"
	"importer/activities/mapping"
	"importer/activities/source"
	"importer/activities/vendors"
	"importer/internal/codec"
	"importer/internal/envconf"
	"importer/workflows"
)

type ImportOptions struct {
	Vendor         string
	Connection     string
	Source         string
	Format         string
	Compression    string
	MappingFile    string
	ID             string
	BatchSize      int
	ChunkRows      int
	Concurrency    int
	VendorDeadline time.Duration
	Wait           bool
	// Incremental is a state key: send only what changed since the last
	// success with it. Missing is what to do with users that left.
	Incremental string
	Missing     string
	NotifyOptions
}

func newImportCmd(g *Globals) *cobra.Command {
	var f ImportOptions
	var dryRun bool
	var dryRunRejects string
	cmd := &cobra.Command{
		Use:   "import --vendor VENDOR --source FILE|URL",
		Short: "Start an import of a user list into a vendor",
		Long: `Start an import of a user list into a vendor.

The source is a CSV file (header row, RFC 4180 quoting) or NDJSON (one JSON
object a line), given as a local path or an http(s) URL that answers Range
requests. Each worker reads its own chunk straight from the source, so a local
path must be readable by the workers (use a URL for a cluster).

By default a column maps to the vendor field of the same name; for Nebuly,
tags.<Name> columns fill tags. A --mapping file (YAML or JSON) renames columns
and sets constants:

  fields:          # vendor field: source column
    end_user: email
    tags.Plan: plan
  constants:
    active_from: "2026-01-01"

Rows that break the vendor's rules, and rows the vendor refuses, go to the
rejects file with their line and reason; the summary names it. The exit code
is 0 when the import completed (even with rejected rows) and 1 when it failed.

--dry-run reads, maps and validates the whole list here, with the workers'
own code, and reports the rows, how many would be sent and rejected (with the
reasons), and the duplicate users (the last row wins, as in the import). It
needs no Temporal and calls no vendor; it exits 0 when the list is readable,
even with rejected rows.`,
		Example: `  starter import --vendor nebuly --source users.csv --wait
  starter import --vendor nebuly --source https://example.com/export.ndjson --mapping map.yaml --wait -o json
  starter import --vendor bitlabs --source users.csv --dry-run
  starter import --vendor nebuly --source users.csv --notify oncall --notify-on 'failure,rejects>5%'
  starter import --vendor nebuly --source users.csv --dry-run --rejects would-reject.ndjson -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dryRunRejects != "" && !dryRun {
				return errors.New("--rejects goes with --dry-run (an import's rejects file is written by the worker; see starter rejects)")
			}
			in, id, err := PrepareImport(f)
			if err != nil {
				return err
			}
			if dryRun {
				return runDryRun(cmd.Context(), g, in, dryRunRejects)
			}
			if err := checkSealed(in.Source.URI); err != nil {
				return err
			}
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			run, err := StartImport(cmd.Context(), c, g, id, in)
			if err != nil {
				return err
			}
			if err := announce(g, c, "import", run, "starter status --follow", f.Wait); err != nil {
				return err
			}
			if !f.Wait {
				return nil
			}
			return Follow(cmd.Context(), c, g, run.GetID(), true)
		},
	}
	fl := cmd.Flags()
	addImportFlags(fl, &f)
	fl.StringVar(&f.ID, "id", "", "workflow ID (default: import-<vendor>-<source name>-<time>)")
	fl.BoolVar(&f.Wait, "wait", false, "follow the import with a live progress display and print the summary")
	fl.StringVar(&f.Incremental, "incremental", "", "send only users that changed since the last successful import with this state KEY")
	fl.StringVar(&f.Missing, "missing", imports.MissingReport, "with --incremental, users no longer in the list: report or deactivate ("+strings.Join(deactivating(), ", ")+")")
	fl.BoolVar(&dryRun, "dry-run", false, "read, map and validate the whole list here and report what an import would do; start nothing, send nothing")
	fl.StringVar(&dryRunRejects, "rejects", "", "with --dry-run: write the rows that would be rejected to FILE (NDJSON, like a rejects file)")
	_ = cmd.MarkFlagRequired("vendor")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// addImportFlags adds the flags that say what to import and how; a
// schedule takes the same ones.
func addImportFlags(fl *pflag.FlagSet, f *ImportOptions) {
	fl.StringVar(&f.Vendor, "vendor", "", "vendor to import into: "+strings.Join(vendors.ImportNames(), ", "))
	fl.StringVar(&f.Connection, "connection", "default", "the worker's connection (account) at the vendor")
	fl.StringVar(&f.Source, "source", "", "the user list: a local path, an http(s) URL, or an s3://, gs:// or azblob:// object")
	fl.StringVar(&f.Format, "format", "", "csv, ndjson or parquet (default: from the source's extension)")
	fl.StringVar(&f.Compression, "compression", "", "gzip, zstd or none (default: from the extension, .gz or .zst); a compressed list is decompressed once into the workers' staging area")
	fl.StringVar(&f.MappingFile, "mapping", "", "a mapping file that renames columns and sets constants")
	fl.IntVar(&f.BatchSize, "batch-size", imports.DefaultBatchSize, "users per vendor request")
	fl.IntVar(&f.ChunkRows, "chunk-rows", 0, "rows per chunk, the unit of work and retry (default: 5 batches)")
	fl.IntVar(&f.Concurrency, "concurrency", workflows.DefaultConcurrency, "chunks in flight at once")
	fl.DurationVar(&f.VendorDeadline, "vendor-deadline", workflows.DefaultVendorDeadline, "how long a chunk may keep failing with retryable errors before the import fails")
	addNotifyFlags(fl, &f.NotifyOptions)
}

// prepareImport checks everything that can be checked on this side, so a
// typo fails here in a sentence instead of in a workflow.
func PrepareImport(f ImportOptions) (workflows.ImportInput, string, error) {
	var in workflows.ImportInput
	vendor := strings.ToLower(strings.TrimSpace(f.Vendor))
	if err := vendors.Check(vendor); err != nil {
		return in, "", err
	}
	if f.BatchSize <= 0 || f.ChunkRows < 0 || f.Concurrency <= 0 {
		return in, "", errors.New("--batch-size and --concurrency must be positive, and --chunk-rows not negative")
	}
	spec, err := f.spec()
	if err != nil {
		return in, "", err
	}
	uri, format, m, err := loadSource(f.Source, f.Format, f.MappingFile)
	if err != nil {
		return in, "", err
	}
	compression, err := source.DetectCompression(uri, f.Compression)
	if err != nil {
		return in, "", err
	}
	if format == source.CSV && compression == "" && !isURL(uri) {
		if err := checkHeader(vendor, uri, m); err != nil {
			return in, "", err
		}
	}
	in = workflows.ImportInput{
		Vendor:         vendor,
		Connection:     f.Connection,
		Source:         source.Ref{URI: uri, Format: format, Compression: compression},
		Mapping:        m,
		BatchSize:      f.BatchSize,
		ChunkRows:      f.ChunkRows,
		Concurrency:    f.Concurrency,
		VendorDeadline: f.VendorDeadline,
		Notify:         spec,
	}
	if f.Incremental != "" {
		missing := f.Missing
		if missing == "" {
			missing = imports.MissingReport
		}
		if missing != imports.MissingReport && missing != imports.MissingDeactivate {
			return in, "", fmt.Errorf("unknown --missing %q: use report or deactivate", missing)
		}
		if err := checkMissing(missing, vendor); err != nil {
			return in, "", err
		}
		in.Incremental = &imports.Incremental{StateKey: f.Incremental, Missing: missing}
	}
	id := f.ID
	if id == "" {
		id = defaultWorkflowID(vendor, uri, time.Now())
	}
	return in, id, nil
}

// loadSource checks a source and its mapping file: the source is readable
// (a local path is made absolute), its format is known, the mapping parses.
func loadSource(src, format, mappingFile string) (string, source.Format, mapping.Mapping, error) {
	var m mapping.Mapping
	uri, err := sourceURI(src)
	if err != nil {
		return "", "", m, err
	}
	f, err := source.DetectFormat(uri, format)
	if err != nil {
		return "", "", m, err
	}
	if mappingFile != "" {
		if m, err = mapping.Load(mappingFile); err != nil {
			return "", "", m, err
		}
	}
	return uri, f, m, nil
}

func sourceURI(s string) (string, error) {
	if s == "" {
		return "", errors.New("--source is empty: give a file path, an http(s) URL or an s3://, gs:// or azblob:// object")
	}
	if isURL(s) {
		return s, nil
	}
	s = strings.TrimPrefix(s, "file://")
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", s, err)
	}
	if sys := source.SystemDir(abs); sys != "" {
		return "", fmt.Errorf("source %s is inside %s, which no worker reads sources from", s, sys)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("cannot read source %s: no such file; check the path", s)
	case err != nil:
		return "", fmt.Errorf("cannot read source %s: %w", s, err)
	case fi.IsDir():
		return "", fmt.Errorf("cannot read source %s: it is a directory", s)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("source %s is not a regular file (a device, FIFO or socket), which no worker reads", s)
	}
	fh, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("cannot read source %s: %w", s, err)
	}
	fh.Close()
	return abs, nil
}

// isURL says whether a source is read over the network by the workers (an
// http(s) URL or an object in object storage) rather than a local path.
func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && source.Remote(s)
}

// checkHeader reads the first record of a local CSV and checks that the
// vendor's required fields can be filled.
func checkHeader(vendor, uri string, m mapping.Mapping) error {
	pathStyle, err := envconf.Bool(os.Getenv, envconf.S3PathStyle)
	if err != nil {
		return err
	}
	page, err := source.Plan(context.Background(), &source.Opener{S3PathStyle: pathStyle}, source.PlanRequest{
		URI: uri, Format: source.CSV, ChunkRows: 1, MaxChunks: 1,
	}, nil)
	if err != nil {
		return fmt.Errorf("cannot read Source: %w", err)
	}
	problem, err := imports.ColumnsProblem(vendor, m, page.Header, true)
	if err != nil {
		return err
	}
	if problem != "" {
		return errors.New(problem)
	}
	return nil
}

func defaultWorkflowID(vendor, uri string, now time.Time) string {
	name := uri
	if u, err := url.Parse(uri); err == nil && u.Path != "" {
		name = u.Path
	}
	name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("import-%s-%s-%s", vendor, name, now.UTC().Format("20060102-150405"))
}

func StartImport(ctx context.Context, c client.Client, g *Globals, id string, in workflows.ImportInput) (client.WorkflowRun, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:            id,
		TaskQueue:     g.taskQueue,
		StaticSummary: fmt.Sprintf("Import into %s (%s) from %s", in.Vendor, in.Connection, displaySource(in.Source.URI)),
		StaticDetails: fmt.Sprintf("Vendor: %s  \nconnection: %s  \nsource: %s (%s)  \nbatch size: %d  \nconcurrency: %d",
			in.Vendor, in.Connection, displaySource(in.Source.URI), in.Source.Format, in.BatchSize, in.Concurrency),
		TypedSearchAttributes: searchAttributes(in.Vendor, in.Connection, in.Source.URI, ""),
	}, workflows.ImportWorkflowName, in)
	if err != nil {
		return nil, fmt.Errorf("start import: %w", explainStart(err))
	}
	return run, nil
}

// announce says that a run started. With --wait a live display follows,
// so it is a line on stderr in any output. Without, the run's ID and link
// are the command's output: JSON on stdout, or for people on stderr with
// followCmd, the command that follows the run (the workflow ID is added).
func announce(g *Globals, c client.Client, what string, run client.WorkflowRun, followCmd string, wait bool) error {
	link := g.workflowLink(c, run.GetID())
	started := fmt.Sprintf("Started %s %s\n  UI: %s\n", what, run.GetID(), link)
	if wait {
		fmt.Fprint(g.stderr, started)
		return nil
	}
	p := g.printer()
	p.note("%sFollow it with: %s %s\n", started, followCmd, run.GetID())
	return p.print(map[string]string{"workflow_id": run.GetID(), "run_id": run.GetRunID(), "ui": link}, nil)
}

func (g *Globals) workflowLink(c client.Client, id string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimRight(g.uiURL, "/"), url.PathEscape(g.namespaceOr(c)), url.PathEscape(id))
}

// displaySource shows a source without the query string of a URL, which can
// hold a presigned credential.
func displaySource(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return uri
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

// deactivating lists the vendors that can end a user's access, so an
// incremental import may deactivate the users that left its list.
func deactivating() []string {
	var names []string
	for _, e := range vendors.All() {
		if e.Spec.Traits.Deactivates {
			names = append(names, e.Spec.Name)
		}
	}
	return names
}

// checkMissing refuses --missing deactivate for a vendor that cannot end a
// user's access, before anything starts.
func checkMissing(missing, vendor string) error {
	if missing != imports.MissingDeactivate {
		return nil
	}
	if t, err := vendors.Traits(vendor); err == nil && !t.Deactivates {
		return fmt.Errorf("--missing deactivate works for %s only (%s has no way to end a user's access); use report", strings.Join(deactivating(), ", "), vendor)
	}
	return nil
}

// checkSealed refuses, before anything starts, a source URL that carries
// a credential (a presigned query, user info) when payloads are not
// encrypted: the workflow's input, and its history, would keep it in plain
// text; and an object-store URL that sets what only the workers'
// configuration may (an endpoint, a profile). The workers refuse both too.
func checkSealed(uri string) error {
	if msg := source.ObjectOptionProblem(uri); msg != "" {
		return errors.New(msg)
	}
	what := source.CredentialIn(uri)
	if what == "" {
		return nil
	}
	if ring, err := codec.KeyringFromEnv(os.Getenv); err == nil && ring != nil {
		return nil
	}
	return errors.New(source.CredentialRefusal(uri, what))
}
