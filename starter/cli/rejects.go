package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"importer/activities/rejects"
	"importer/internal/atomicfile"
	"importer/internal/store"
)

// rejectsFlags are the flags of `starter rejects`.
type rejectsFlags struct {
	save        string
	limit       int
	reason      string
	disappeared bool
	store       string
	dataDir     string
}

func newRejectsCmd(g *Globals) *cobra.Command {
	var f rejectsFlags
	cmd := &cobra.Command{
		Use:   "rejects WORKFLOW_ID",
		Short: "Show the rows an import (or audience sync) rejected, with the reasons",
		Long: `Show the rejected rows of an import or audience sync: the source line, the
user id and the reason, as a table or (-o json) one JSON object a line, in
source order. A running import shows the rejects so far.

The rows are read from the importer's store, where the workers write them:
the PostgreSQL database IMPORTER_STORE (or --store) names, which any machine
that reaches it can read, or by default the embedded SQLite file under
--data-dir (IMPORTER_DATA_DIR, default .importer), which only the machine of a
single-host worker ("worker --dev") has.

--disappeared lists instead the users an incremental import found gone from
its list since the last successful run.`,
		Example: `  starter rejects import-nebuly-users-20261123-101500
  starter rejects import-nebuly-users-20261123-101500 --reason active_from --limit 20
  starter rejects import-nebuly-users-20261123-101500 --save rejects.ndjson
  IMPORTER_STORE=postgres://importer@db:5432/importer starter rejects import-nebuly-users-20261123-101500 -o json | jq -r .user_id
  starter rejects import-nebuly-users-20261123-101500 --disappeared`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.limit < 0 {
				return errors.New("--limit must not be negative (0 shows all)")
			}
			ctx := cmd.Context()
			// The store first: a setting it refuses is this machine's
			// mistake, reported before anything is asked of Temporal.
			st, err := store.Open(ctx, store.Options{URL: f.store, DataDir: f.dataDir})
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := args[0]
			run, err := describeRun(ctx, c, g, id)
			if err != nil {
				return err
			}
			if f.disappeared {
				return showDisappeared(ctx, g, st, run, f)
			}
			return showRejects(ctx, g, st, run, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.save, "save", "", "copy the rejects (those matching --reason, if given) to FILE as NDJSON instead of printing them")
	fl.IntVar(&f.limit, "limit", 0, "print at most N rejects (0: all)")
	fl.StringVar(&f.reason, "reason", "", "only rejects whose reason contains TEXT (any case)")
	fl.BoolVar(&f.disappeared, "disappeared", false, "list the users an incremental import found gone from the list instead")
	fl.StringVar(&f.store, "store", envOr(store.EnvVar, ""), "the workers' store: postgres://user@host:5432/db?sslmode=verify-full&sslrootcert=/path/ca.pem, or empty for the SQLite file under --data-dir ["+store.EnvVar+"]")
	fl.StringVar(&f.dataDir, "data-dir", envOr("IMPORTER_DATA_DIR", ".importer"), "the data directory of a single-host worker, where its embedded store is [IMPORTER_DATA_DIR]")
	return cmd
}

// runRecords is what the store keeps a run's records under, and what the
// run itself says about them.
type runRecords struct {
	id  string
	key string // the records' key: the workflow ID and the first run's ID
	// rejected is the count the finished run reports; -1 when unknown
	// (running, canceled, failed).
	rejected int64
	// file is the rejects file of a run that ended before the rejects went
	// to the store.
	file string
}

// describeRun finds the run and the key its records are stored under:
// the key the workflows name them by (ImportState.ImportKey and the
// audience sync's SyncKey: the workflow ID and the first 8 characters of
// the first run's ID).
func describeRun(ctx context.Context, c client.Client, g *Globals, id string) (runRecords, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return runRecords{}, fmt.Errorf("no import with workflow ID %q in namespace %s", id, g.namespaceOr(c))
	}
	if err != nil {
		return runRecords{}, fmt.Errorf("describe %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if kind := info.GetType().GetName(); listedTypes[kind] == "" {
		return runRecords{}, fmt.Errorf("%s is a %s workflow, not an import or an audience sync: it has no rejects", id, kind)
	}
	first := info.GetFirstRunId()
	if first == "" {
		first = info.GetExecution().GetRunId()
	}
	if len(first) > 8 {
		first = first[:8]
	}
	out := runRecords{id: id, key: id + "-" + first, rejected: -1}
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		var res struct {
			Rejected    int64  `json:"rejected"`
			RejectsFile string `json:"rejects_file"`
		}
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			return runRecords{}, fmt.Errorf("read the result of %s: %w", id, err)
		}
		out.rejected, out.file = res.Rejected, res.RejectsFile
	}
	return out, nil
}

func showRejects(ctx context.Context, g *Globals, st *store.Store, run runRecords, f rejectsFlags) error {
	held, err := st.CountRejects(ctx, run.key)
	if err != nil {
		return err
	}
	if held == 0 && run.file != "" {
		return fmt.Errorf("%s finished before rejects went to the store: its rejects are in the file %s on the worker that ran it", run.id, run.file)
	}
	if run.rejected > held {
		return fmt.Errorf("%s rejected %s rows, but %s holds %s of them: point --store (or %s) at the store its workers use",
			run.id, num(run.rejected), st.Describe(), num(held), store.EnvVar)
	}
	want := strings.ToLower(f.reason)
	matches := func(r rejects.Reject) bool { return want == "" || strings.Contains(strings.ToLower(r.Reason), want) }
	if f.save != "" {
		return saveRejects(ctx, g, st, run, f.save, matches)
	}
	p := g.printer()
	var header []string
	if held > 0 {
		header = []string{"LINE", "USER ID", "REASON"}
	}
	rows := p.streamTable(header...)
	var matched, shown int64
	err = st.Rejects(ctx, run.key, "", func(_ string, kept store.Reject) error {
		r := rejects.Reject(kept)
		if !matches(r) {
			return nil
		}
		matched++
		if f.limit > 0 && shown >= int64(f.limit) {
			return nil
		}
		shown++
		return rows.row(r, strconv.FormatInt(r.Line, 10), dash(r.UserID), r.Reason)
	})
	if err != nil {
		return err
	}
	if err := rows.flush(); err != nil {
		return err
	}
	if held == 0 {
		p.say("%s has no rejected rows.\n", run.id)
		return nil
	}
	note := fmt.Sprintf("%s rejects", num(held))
	if f.reason != "" {
		note = fmt.Sprintf("%s of %s rejects match %q", num(matched), num(held), f.reason)
	}
	if shown < matched {
		note += fmt.Sprintf("; showing the first %s (--limit 0 shows all)", num(shown))
	}
	p.note("%s, from %s\n", note, st.Describe())
	return nil
}

// saveRejects copies the rejects that match to a file, as NDJSON.
func saveRejects(ctx context.Context, g *Globals, st *store.Store, run runRecords, path string, matches func(rejects.Reject) bool) error {
	out, err := createAtomic(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	var saved int64
	err = st.Rejects(ctx, run.key, "", func(_ string, kept store.Reject) error {
		r := rejects.Reject(kept)
		if !matches(r) {
			return nil
		}
		saved++
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		out.Write(b)
		out.WriteByte('\n')
		return nil
	})
	if err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("save rejects: %w", err)
	}
	return g.printer().print(map[string]any{"workflow_id": run.id, "saved": path, "rejects": saved}, func(w io.Writer) {
		fmt.Fprintf(w, "Saved %s rejects of %s to %s.\n", num(saved), run.id, path)
	})
}

func showDisappeared(ctx context.Context, g *Globals, st *store.Store, run runRecords, f rejectsFlags) error {
	var out *atomicfile.File
	var err error
	if f.save != "" {
		if out, err = createAtomic(f.save); err != nil {
			return err
		}
		defer out.Abort()
	}
	p := g.printer()
	users := p.streamLines()
	var n int64
	err = st.Disappeared(ctx, run.key, func(key string) error {
		n++
		switch {
		case out != nil:
			out.WriteString(strings.ReplaceAll(key, "\n", " ") + "\n")
		case f.limit > 0 && n > int64(f.limit):
		default:
			return users.row(map[string]string{"user_id": key}, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if out != nil {
		if err := out.Commit(); err != nil {
			return fmt.Errorf("save the gone users: %w", err)
		}
	}
	p.note("%s users gone from the list of %s, from %s\n", num(n), run.id, st.Describe())
	return nil
}

// createAtomic starts the file a save writes: under a temporary name until
// it is complete, so an interrupted save leaves no half file.
func createAtomic(path string) (*atomicfile.File, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("save to %s: %w", path, err)
	}
	return f, nil
}
