package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"importer/activities/imports"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/internal/atomicfile"
	"importer/internal/envconf"
	"importer/workflows"
)

// runDryRun reads, maps and validates the whole list here, with the
// workers' own code (imports.DryRun), and reports what an import would
// send and reject. It needs no Temporal and calls no vendor. rejectsPath,
// if set, receives the rows that would be rejected, as a rejects file.
func runDryRun(ctx context.Context, g *Globals, in workflows.ImportInput, rejectsPath string) error {
	if err := g.checkOutput(); err != nil {
		return err
	}
	if in.Incremental != nil {
		fmt.Fprintln(g.stderr, "Note: a dry run cannot tell unchanged users apart (the incremental state lives with the workers); it counts every row.")
	}
	var save func(rejects.Reject) error
	var out *atomicfile.File
	if rejectsPath != "" {
		var err error
		if out, err = createAtomic(rejectsPath); err != nil {
			return err
		}
		defer out.Abort()
		enc := json.NewEncoder(out)
		save = func(r rejects.Reject) error { return enc.Encode(r) }
	}
	p := g.printer()
	p.note("Dry run: reading %s for %s; nothing is sent.\n", displaySource(in.Source.URI), in.Vendor)
	pathStyle, err := envconf.Bool(os.Getenv, envconf.S3PathStyle)
	if err != nil {
		return err
	}
	started := time.Now()
	res, err := imports.DryRun(ctx, &source.Opener{S3PathStyle: pathStyle}, in.Vendor, in.Source, in.Mapping, save)
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	if out != nil {
		if err := out.Commit(); err != nil {
			return fmt.Errorf("save the rejects: %w", err)
		}
	}
	took := time.Since(started)
	return p.print(res, func(w io.Writer) { printDryRun(w, res, rejectsPath, took) })
}

func printDryRun(w io.Writer, res imports.DryRunResult, rejectsPath string, took time.Duration) {
	fmt.Fprintf(w, "Dry run of an import into %s (nothing was sent)\n", res.Vendor)
	fmt.Fprintf(w, "  source        %s\n", res.Source)
	fmt.Fprintf(w, "  rows          %s\n", num(res.Rows))
	fmt.Fprintf(w, "  would send    %s\n", num(res.WouldSend))
	fmt.Fprintf(w, "  would reject  %s\n", num(res.WouldReject))
	fmt.Fprintf(w, "  duplicates    %s (rows a later row of the same user replaces; among the rejects)\n", num(res.Duplicates))
	if rejectsPath != "" {
		fmt.Fprintf(w, "  rejects file  %s\n", rejectsPath)
	}
	fmt.Fprintf(w, "  took          %s\n", durationText(took))
	if len(res.Reasons) == 0 {
		return
	}
	fmt.Fprintln(w)
	t := table{header: []string{"ROWS", "FIRST LINE", "REASON"}}
	for _, r := range res.Reasons {
		t.rows = append(t.rows, []string{num(r.Rows), strconv.FormatInt(r.FirstLine, 10), r.Reason})
	}
	if res.OtherRejects > 0 {
		t.rows = append(t.rows, []string{num(res.OtherRejects), "", "(other reasons)"})
	}
	t.write(w)
}
