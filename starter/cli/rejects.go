package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"importer/activities/rejects"
	"importer/internal/atomicfile"
)

// rejectsFlags are the flags of `starter rejects`.
type rejectsFlags struct {
	save    string
	limit   int
	reason  string
	dataDir string
}

func newRejectsCmd(g *Globals) *cobra.Command {
	var f rejectsFlags
	cmd := &cobra.Command{
		Use:   "rejects WORKFLOW_ID",
		Short: "Show the rows an import (or audience sync) rejected, with the reasons",
		Long: `Show the rejected rows of an import or audience sync: the source line, the
user id and the reason, as a table or (-o json) one JSON object a line.

The rejects file is written by the worker, in its data directory
(--data-dir, IMPORTER_DATA_DIR, default .importer): this command reads it from
there, so run it on the worker's machine or on one that shares that directory.
With "worker --dev" on this machine it just works. The file is found from the
import's result, from a failed import's error ("rejects so far: ..."), or else
where the worker keeps it under --data-dir (a canceled import, for example).`,
		Example: `  starter rejects import-nebuly-users-20261123-101500
  starter rejects import-nebuly-users-20261123-101500 --reason active_from --limit 20
  starter rejects import-nebuly-users-20261123-101500 --save rejects.ndjson
  starter rejects import-nebuly-users-20261123-101500 -o json | jq -r .user_id`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.limit < 0 {
				return errors.New("--limit must not be negative (0 shows all)")
			}
			ctx := cmd.Context()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := args[0]
			loc, err := locateRejects(ctx, c, g, id, f.dataDir)
			if err != nil {
				return err
			}
			if loc.path == "" {
				return noRejects(g, id, f.save)
			}
			return showRejects(g, id, loc, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.save, "save", "", "copy the rejects (those matching --reason, if given) to FILE instead of printing them")
	fl.IntVar(&f.limit, "limit", 0, "print at most N rejects (0: all)")
	fl.StringVar(&f.reason, "reason", "", "only rejects whose reason contains TEXT (any case)")
	fl.StringVar(&f.dataDir, "data-dir", envOr("IMPORTER_DATA_DIR", ".importer"), "the worker's data directory, where it keeps rejects files [IMPORTER_DATA_DIR]")
	return cmd
}

// rejectsLocation is where a run's rejects file is, and how that was found.
type rejectsLocation struct {
	path string // "" when the run completed without rejects
	from string // "result", "error" or "data dir"
}

// rejectsSoFar marks the rejects file in a failed run's error message.
const rejectsSoFar = "(rejects so far: "

// locateRejects finds a run's rejects file: in its result when it
// completed, in its error when it failed, and otherwise where the worker's
// rejects store keeps the file of that run.
func locateRejects(ctx context.Context, c client.Client, g *Globals, id, dataDir string) (rejectsLocation, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return rejectsLocation{}, fmt.Errorf("no import with workflow ID %q in namespace %s", id, g.namespaceOr(c))
	}
	if err != nil {
		return rejectsLocation{}, fmt.Errorf("describe %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if kind := info.GetType().GetName(); listedTypes[kind] == "" {
		return rejectsLocation{}, fmt.Errorf("%s is a %s workflow, not an import or an audience sync: it has no rejects", id, kind)
	}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return rejectsLocation{}, fmt.Errorf("%s is still running: its rejects are joined into one file when it ends (follow it with: starter status %s)", id, id)
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res struct {
			RejectsFile string `json:"rejects_file"`
		}
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			return rejectsLocation{}, fmt.Errorf("read the result of %s: %w", id, err)
		}
		return rejectsLocation{path: res.RejectsFile, from: "result"}, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		err := c.GetWorkflow(ctx, id, "").Get(ctx, nil)
		if err != nil {
			_, msg := failureOf(err)
			if path := rejectsPathIn(msg); path != "" {
				return rejectsLocation{path: path, from: "error"}, nil
			}
		}
	}
	// Canceled, terminated, timed out, or failed before any reject: the
	// file is where the rejects store puts this run's, under the key the
	// workflow names its rejects by (workflows: ImportState.ImportKey and
	// the audience sync's SyncKey, both the workflow ID and the first 8
	// characters of the first run's ID).
	first := info.GetFirstRunId()
	if first == "" {
		first = info.GetExecution().GetRunId()
	}
	if len(first) > 8 {
		first = first[:8]
	}
	store := rejects.Store{Dir: filepath.Join(dataDir, "rejects")}
	path := store.Path(id + "-" + first)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return rejectsLocation{path: path, from: "data dir"}, nil
}

// rejectsPathIn finds the rejects file a failed run's error names. The
// store names every rejects file with the same suffix, which tells where the
// path ends whatever Temporal appends to the message.
func rejectsPathIn(msg string) string {
	i := strings.LastIndex(msg, rejectsSoFar)
	if i < 0 {
		return ""
	}
	suffix := strings.TrimPrefix(rejects.Store{}.Path("x"), "x") // ".rejects.ndjson"
	rest := msg[i+len(rejectsSoFar):]
	j := strings.Index(rest, suffix+")")
	if j <= 0 {
		return ""
	}
	return rest[:j+len(suffix)]
}

func noRejects(g *Globals, id, save string) error {
	if save != "" {
		out, err := createAtomic(save)
		if err != nil {
			return err
		}
		defer out.Abort()
		if err := out.Commit(); err != nil {
			return fmt.Errorf("save rejects: %w", err)
		}
	}
	if g.output == "json" {
		if save != "" {
			return printJSON(g.stdout, map[string]any{"workflow_id": id, "saved": save, "rejects": 0})
		}
		return nil // NDJSON of no rejects: no lines
	}
	fmt.Fprintf(g.stdout, "%s completed without rejected rows.\n", id)
	if save != "" {
		fmt.Fprintf(g.stdout, "Wrote an empty %s.\n", save)
	}
	return nil
}

// notReadable explains a rejects file this machine cannot open.
func notReadable(loc rejectsLocation, err error) error {
	why := "it is not there"
	if !errors.Is(err, fs.ErrNotExist) {
		why = err.Error()
	}
	msg := fmt.Sprintf("the rejects file %s is not readable from this machine (%s). Rejects files live in the data directory of the worker "+
		"that ran the import (its --data-dir or IMPORTER_DATA_DIR): run this command where the worker runs, or on a machine that shares "+
		"that directory; with `worker --dev` on this machine it works", loc.path, why)
	if loc.from == "data dir" {
		msg += ". The path was derived from --data-dir, because the run did not name its file (canceled, terminated, or ended before any " +
			"reject); point --data-dir at the worker's data directory if it is not the default"
	}
	return errors.New(msg)
}

func showRejects(g *Globals, id string, loc rejectsLocation, f rejectsFlags) error {
	in, err := os.Open(loc.path)
	if err != nil {
		return notReadable(loc, err)
	}
	defer in.Close()
	var out *atomicfile.File
	if f.save != "" {
		if out, err = createAtomic(f.save); err != nil {
			return err
		}
		defer out.Abort()
	}
	tw := newTable(g.stdout)
	if g.output != "json" && out == nil {
		fmt.Fprintln(tw, "LINE\tUSER ID\tREASON\t")
	}
	want := strings.ToLower(f.reason)
	total, matched, shown := 0, 0, 0
	r := bufio.NewReader(in)
	for {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return fmt.Errorf("read %s: %w", loc.path, rerr)
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			total++
			var rej rejects.Reject
			if err := json.Unmarshal(trimmed, &rej); err != nil {
				return fmt.Errorf("%s, line %d: not a reject: %w", loc.path, total, err)
			}
			if want == "" || strings.Contains(strings.ToLower(rej.Reason), want) {
				matched++
				switch {
				case out != nil:
					out.Write(trimmed)
					out.WriteByte('\n')
				case f.limit > 0 && shown >= f.limit:
				case g.output == "json":
					shown++
					fmt.Fprintf(g.stdout, "%s\n", trimmed)
				default:
					shown++
					fmt.Fprintf(tw, "%d\t%s\t%s\t\n", rej.Line, dash(rej.UserID), rej.Reason)
					if shown%1000 == 0 {
						// A long file streams instead of being held for
						// alignment; columns may shift by a little.
						if err := tw.Flush(); err != nil {
							return err
						}
					}
				}
			}
		}
		if rerr != nil {
			break
		}
	}
	if out != nil {
		if err := out.Commit(); err != nil {
			return fmt.Errorf("save rejects: %w", err)
		}
		if g.output == "json" {
			return printJSON(g.stdout, map[string]any{"workflow_id": id, "rejects_file": loc.path, "saved": f.save, "rejects": matched})
		}
		fmt.Fprintf(g.stdout, "Saved %s rejects of %s to %s (from %s).\n", num(int64(matched)), id, f.save, loc.path)
		return nil
	}
	if g.output == "json" {
		return nil
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	note := fmt.Sprintf("%s rejects", num(int64(total)))
	if f.reason != "" {
		note = fmt.Sprintf("%s of %s rejects match %q", num(int64(matched)), num(int64(total)), f.reason)
	}
	if shown < matched {
		note += fmt.Sprintf("; showing the first %s (--limit 0 shows all)", num(int64(shown)))
	}
	fmt.Fprintf(g.stderr, "%s, from %s\n", note, loc.path)
	return nil
}

// createAtomic starts the file a save writes: under a temporary name until
// it is complete, so an interrupted save leaves no half file.
func createAtomic(path string) (*atomicfile.File, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("save rejects to %s: %w", path, err)
	}
	return f, nil
}
