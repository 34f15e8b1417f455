package imports

import (
	"context"
	"errors"
	"fmt"
	"os"

	"importer/activities/mapping"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/activities/vendors"
)

// DryRunReasons is how many distinct reject reasons a dry run counts one by
// one; rows with any other reason are counted together.
const DryRunReasons = 10

// dryRunChunkRows is the rows a dry run holds in memory at once: it reads
// the list chunk by chunk like the workers, never whole.
const dryRunChunkRows = 10000

// DryRunResult is what an import of a list would do, found by reading,
// mapping and validating every row with the import's own code and calling
// no vendor. Rows = WouldSend + WouldReject.
type DryRunResult struct {
	Vendor      string `json:"vendor"`
	Source      string `json:"source"` // without a URL's query
	Rows        int64  `json:"rows"`
	WouldSend   int64  `json:"would_send"`
	WouldReject int64  `json:"would_reject"`
	// Duplicates are rows a later row of the same user replaces, as the
	// import does (the last row wins); they are among WouldReject.
	Duplicates int64 `json:"duplicates"`
	// Reasons are the first DryRunReasons distinct reasons, in the order
	// the list first gives them, each with how many rows have it.
	Reasons []ReasonCount `json:"reasons"`
	// OtherRejects counts the rejected rows whose reason is not in Reasons.
	OtherRejects int64 `json:"other_rejects"`
}

// ReasonCount is one reject reason and how many rows have it.
type ReasonCount struct {
	Reason    string `json:"reason"`
	Rows      int64  `json:"rows"`
	FirstLine int64  `json:"first_line"`
}

// DryRun reads, maps and validates a whole list for a vendor as an import
// would: the same duplicate scan (FindDuplicates) and the same per-chunk
// rules (chunkRows) over chunks of the same shape, reading a URL with Range
// requests like a worker. It sends nothing and needs no connection. fn, if
// not nil, gets every row the import would reject, in source order.
//
// It fails only when the list cannot be imported at all (unreadable, a CSV
// without the vendor's columns, changed while it was read); rejected rows
// are results, not errors. An incremental import's unchanged users cannot
// be told here: that state lives with the workers.
func DryRun(ctx context.Context, o *source.Opener, vendorName string, src source.Ref, m mapping.Mapping, fn func(rejects.Reject) error) (DryRunResult, error) {
	v, err := vendors.Import(vendorName)
	if err != nil {
		return DryRunResult{}, err
	}
	res := DryRunResult{Vendor: v.Spec().Name, Source: source.Redact(src.URI), Reasons: []ReasonCount{}}
	if src.Compression != "" {
		// As an import does, read a plain copy, here in a directory of
		// this machine's own that goes when the dry run ends.
		dir, err := os.MkdirTemp("", "importer-dry-run-")
		if err != nil {
			return res, fmt.Errorf("stage %s: %w", source.Redact(src.URI), err)
		}
		defer os.RemoveAll(dir)
		if src, err = source.Stage(ctx, o, src, dir, "dry-run", nil); err != nil {
			return res, err
		}
	}
	if src.Format != source.NDJSON {
		// Check the header first: a list the import would refuse outright
		// should not wait for a pass over all its rows.
		head, err := source.Plan(ctx, o, source.PlanRequest{URI: src.URI, Format: src.Format, ChunkRows: 1, MaxChunks: 1}, nil)
		if err != nil {
			return res, fmt.Errorf("read %s: %w", source.Redact(src.URI), err)
		}
		msg, err := ColumnsProblem(v.Spec().Name, m, head.Header, true)
		if err != nil {
			return res, err
		}
		if msg != "" {
			return res, errors.New(msg)
		}
	}
	scan, err := scanDuplicates(ctx, o, v, src, m, 0, nil)
	if err != nil {
		return res, err
	}
	superseded := make(map[int64]int64, len(scan.lines))
	for _, l := range scan.lines {
		superseded[l.line] = l.by
	}
	reasons := map[string]int{} // reason → index in res.Reasons
	page := source.Page{}
	for !page.Done {
		next, err := source.Plan(ctx, o, source.PlanRequest{
			URI: src.URI, Format: src.Format,
			From: page.Next, FromLine: page.NextLine, NextIndex: page.NextIndex,
			ChunkRows: dryRunChunkRows, MaxChunks: 20, Expect: &scan.version,
		}, nil)
		if err != nil {
			return res, fmt.Errorf("plan %s: %w", source.Redact(src.URI), err)
		}
		page = next
		ref := src
		ref.Header, ref.Version = page.Header, scan.version
		for _, c := range page.Chunks {
			rows, _, err := chunkRows(ctx, o, v, ref, m, c, func([]int64) (map[int64]int64, error) { return superseded, nil })
			if err != nil {
				return res, fmt.Errorf("read %s: %w", source.Redact(src.URI), err)
			}
			if len(rows) != c.Rows {
				return res, fmt.Errorf("%s changed while it was read: lines from %d gave %d rows where planning found %d", source.Redact(src.URI), c.FirstLine, len(rows), c.Rows)
			}
			for _, r := range rows {
				res.Rows++
				if r.slot >= 0 {
					res.WouldSend++
					continue
				}
				res.WouldReject++
				if r.duplicate {
					res.Duplicates++
				}
				if i, ok := reasons[r.reason]; ok {
					res.Reasons[i].Rows++
				} else if len(res.Reasons) < DryRunReasons {
					reasons[r.reason] = len(res.Reasons)
					res.Reasons = append(res.Reasons, ReasonCount{Reason: r.reason, Rows: 1, FirstLine: r.line})
				} else {
					res.OtherRejects++
				}
				if fn != nil {
					if err := fn(rejects.Reject{Line: r.line, UserID: r.key, Vendor: v.Spec().Name, Reason: r.reason}); err != nil {
						return res, err
					}
				}
			}
		}
	}
	if res.Rows != scan.rows {
		return res, fmt.Errorf("%s changed while it was read: the duplicate scan found %d rows, the read %d", source.Redact(src.URI), scan.rows, res.Rows)
	}
	return res, nil
}
