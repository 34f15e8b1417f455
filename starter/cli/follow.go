package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"importer/internal/numfmt"
	"importer/workflows"
)

// Follow shows an import's progress until it ends, then its summary. Ctrl-C
// detaches: the import goes on in Temporal.
func Follow(ctx context.Context, c client.Client, g *Globals, id string, detachable bool) error {
	return follow(ctx, c, g, id, detachable, importKind())
}

// runKind is what differs between the kinds of run the starter follows and
// shows (an import, an audience sync): P is the answer of the run's
// progress query, R its result.
type runKind[P, R any] struct {
	// name starts the lines about a run: "Import", "Audience sync".
	name string
	// line renders a progress answer as one line.
	line func(p P) string
	// summary is a completed run's result as -o json prints it, and as
	// people read it.
	summary func(res R, link string) (v any, text func(w io.Writer))
	// detached is what Ctrl-C says when it detaches from the run; %s is
	// the workflow ID.
	detached string
}

func importKind() runKind[workflows.Progress, workflows.ImportResult] {
	return runKind[workflows.Progress, workflows.ImportResult]{
		name: "Import",
		line: func(p workflows.Progress) string { return progressLine(p, time.Now()) },
		summary: func(res workflows.ImportResult, link string) (any, func(io.Writer)) {
			return summaryJSON(res, "completed"), func(w io.Writer) { printSummary(w, res, link) }
		},
		detached: "Detached; the import goes on. Follow it again with: starter status --follow %s\n",
	}
}

// follow shows a run's progress on stderr until it ends, then reports it.
// It follows the workflow ID, not a run: the progress of the latest run,
// and the result at the end of the runs it continues as new. Ctrl-C
// detaches: the run goes on in Temporal; detachable says whether to tell
// how to follow it again.
func follow[P, R any](ctx context.Context, c client.Client, g *Globals, id string, detachable bool, k runKind[P, R]) error {
	type outcome struct {
		res R
		err error
	}
	// A background context: Ctrl-C must detach the display, not cancel the
	// wait in a way that looks like a failed run.
	waitCtx, stopWait := context.WithCancel(context.Background())
	defer stopWait()
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		o.err = c.GetWorkflow(waitCtx, id, "").Get(waitCtx, &o.res)
		done <- o
	}()

	tty := isTerminal(g.stderr)
	every := 10 * time.Second
	if tty {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastLine := ""
	show := func() {
		p, err := queryProgress[P](ctx, c, id)
		if err != nil {
			return // the workflow may be between runs; try again next tick
		}
		line := k.line(p)
		if tty {
			fmt.Fprintf(g.stderr, "\r\033[K%s", line)
		} else if line != lastLine {
			fmt.Fprintln(g.stderr, line)
		}
		lastLine = line
	}
	// Where the run is now, at once: the first tick is a second away on a
	// terminal and ten without one, where a short run may end before it.
	show()
	for {
		select {
		case o := <-done:
			if tty && lastLine != "" {
				fmt.Fprint(g.stderr, "\r\033[K")
			}
			return reportRun(g, c, id, o.res, o.err, k)
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(g.stderr)
			}
			if detachable {
				fmt.Fprintf(g.stderr, k.detached, id)
			}
			return ExitError{Code: 130}
		case <-tick.C:
			show()
		}
	}
}

// showRun prints a run's progress, or its summary when it has ended.
func showRun[P, R any](ctx context.Context, g *Globals, c client.Client, id string, running bool, k runKind[P, R]) error {
	if !running {
		var res R
		err := c.GetWorkflow(ctx, id, "").Get(ctx, &res)
		return reportRun(g, c, id, res, err, k)
	}
	p, err := queryProgress[P](ctx, c, id)
	if err != nil {
		return fmt.Errorf("query progress of %s (is a worker running?): %w", id, err)
	}
	link := g.workflowLink(c, id)
	return g.printer().print(map[string]any{"workflow_id": id, "status": "running", "progress": p}, func(w io.Writer) {
		fmt.Fprintf(w, "%s %s is running\n  %s\n  UI: %s\n", k.name, id, k.line(p), link)
	})
}

func queryProgress[P any](ctx context.Context, c client.Client, id string) (P, error) {
	var p P
	v, err := c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}

// reportRun prints how a run ended and turns it into the command's exit.
func reportRun[P, R any](g *Globals, c client.Client, id string, res R, err error, k runKind[P, R]) error {
	if err != nil {
		return reportFailure(g, k.name, id, err)
	}
	return g.printer().print(k.summary(res, g.workflowLink(c, id)))
}

// progressLine renders rows done of the total (estimated from bytes while
// planning is still running), the rate and the time left.
func progressLine(p workflows.Progress, now time.Time) string {
	elapsed := now.Sub(p.StartedAt)
	frac := p.Fraction()
	var b strings.Builder
	switch {
	case p.PlanningDone:
		fmt.Fprintf(&b, "%s: %s / %s rows (%.1f%%)", p.Phase, num(p.RowsDone), num(p.RowsPlanned), frac*100)
	case frac > 0:
		fmt.Fprintf(&b, "%s: %s rows (%.1f%% of the source)", p.Phase, num(p.RowsDone), frac*100)
	default:
		fmt.Fprintf(&b, "%s: %s rows", p.Phase, num(p.RowsDone))
	}
	if elapsed > 0 && p.RowsDone > 0 {
		fmt.Fprintf(&b, " · %s rows/s", num(int64(float64(p.RowsDone)/elapsed.Seconds())))
	}
	if frac > 0.001 && frac < 1 {
		left := time.Duration(float64(elapsed) * (1 - frac) / frac)
		fmt.Fprintf(&b, " · ETA %s", left.Round(time.Second))
	}
	fmt.Fprintf(&b, " · %s rejected", num(p.Rejected))
	if p.GateWaits > 0 {
		fmt.Fprintf(&b, " · %d chunks waiting for the gate", p.GateWaits)
	}
	if p.Unchanged > 0 {
		fmt.Fprintf(&b, " · %s unchanged", num(p.Unchanged))
	}
	return b.String()
}

func summaryJSON(res workflows.ImportResult, status string) map[string]any {
	secs := res.FinishedAt.Sub(res.StartedAt).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(res.RowsRead) / secs
	}
	return map[string]any{
		"workflow_id":     res.WorkflowID,
		"status":          status,
		"vendor":          res.Vendor,
		"connection":      res.Connection,
		"source":          displaySource(res.Source),
		"rows_read":       res.RowsRead,
		"accepted":        res.Accepted,
		"rejected":        res.Rejected,
		"inserted":        res.Inserted,
		"updated":         res.Updated,
		"rejects_command": res.RejectsCommand,
		"rejects_file":    res.RejectsFile,
		"unchanged":       res.Unchanged,
		"disappeared":     res.Disappeared,
		"deactivated":     res.Deactivated,
		"chunks":          res.Chunks,
		"runs":            res.Runs,
		"started_at":      res.StartedAt,
		"finished_at":     res.FinishedAt,
		"seconds":         secs,
		"rows_per_sec":    rate,
	}
}

func printSummary(w io.Writer, res workflows.ImportResult, link string) {
	took := res.FinishedAt.Sub(res.StartedAt)
	fmt.Fprintf(w, "Import %s completed in %s\n", res.WorkflowID, took.Round(10*time.Millisecond))
	fmt.Fprintf(w, "  vendor        %s (connection %s)\n", res.Vendor, res.Connection)
	fmt.Fprintf(w, "  source        %s\n", displaySource(res.Source))
	fmt.Fprintf(w, "  rows read     %s\n", num(res.RowsRead))
	fmt.Fprintf(w, "  accepted      %s (inserted %s, updated %s)\n", num(res.Accepted), num(res.Inserted), num(res.Updated))
	fmt.Fprintf(w, "  rejected      %s\n", num(res.Rejected))
	if res.Unchanged > 0 || res.Disappeared > 0 || res.DisappearedFile != "" {
		fmt.Fprintf(w, "  unchanged     %s (not sent: the last successful run delivered the same)\n", num(res.Unchanged))
		fmt.Fprintf(w, "  disappeared   %s users of the last successful run are no longer in the list", num(int64(res.Disappeared)))
		if res.Deactivated > 0 {
			fmt.Fprintf(w, "; %s deactivated", num(int64(res.Deactivated)))
		}
		fmt.Fprintln(w)
		if res.DisappearedFile != "" {
			fmt.Fprintf(w, "  gone list     %s\n", res.DisappearedFile)
		} else if res.Disappeared > 0 {
			fmt.Fprintf(w, "  gone list     starter rejects %s --disappeared\n", res.WorkflowID)
		}
	}
	if res.RejectsCommand != "" {
		fmt.Fprintf(w, "  rejects       %s\n", res.RejectsCommand)
	}
	if res.RejectsFile != "" {
		fmt.Fprintf(w, "  rejects file  %s\n", res.RejectsFile)
	}
	if took > 0 {
		fmt.Fprintf(w, "  rate          %s rows/s\n", num(int64(float64(res.RowsRead)/took.Seconds())))
	}
	fmt.Fprintf(w, "  UI            %s\n", link)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// num spells a count for people (numfmt.Count).
func num(n int64) string { return numfmt.Count(n) }
