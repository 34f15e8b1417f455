package store

import (
	"context"
	"fmt"
	"strings"
)

// Reject is one row an import did not deliver, as the store keeps it.
type Reject struct {
	Line   int64  // 1-based physical line (or row) in the source
	UserID string // the vendor's user key, when the row had one
	Vendor string
	Reason string
}

// PutRejects writes the rejects of one part of an import, replacing what
// the part held: an activity that runs twice leaves its rows once. An
// empty list clears the part.
func (s *Store) PutRejects(ctx context.Context, importKey, part string, rs []Reject) error {
	rows := make([][]any, len(rs))
	for i, r := range rs {
		rows[i] = []any{importKey, part, i, r.Line, r.UserID, r.Vendor, r.Reason}
	}
	err := s.dialect.load(ctx, s.db,
		[]stmt{{`DELETE FROM rejects WHERE import_key = $1 AND part = $2`, []any{importKey, part}}},
		"rejects", []string{"import_key", "part", "seq", "line", "user_id", "vendor", "reason"}, rows)
	if err != nil {
		return fmt.Errorf("write rejects (%s): %w", s.Describe(), err)
	}
	return nil
}

// MergeRejects replaces the parts of an import whose names start with
// prefix by one part named into, holding rs, in one transaction: a retry
// sees either the parts or the merged part, never neither.
func (s *Store) MergeRejects(ctx context.Context, importKey, prefix, into string, rs []Reject) error {
	rows := make([][]any, len(rs))
	for i, r := range rs {
		rows[i] = []any{importKey, into, i, r.Line, r.UserID, r.Vendor, r.Reason}
	}
	err := s.dialect.load(ctx, s.db, []stmt{
		{`DELETE FROM rejects WHERE import_key = $1 AND part LIKE $2 ESCAPE '\'`, []any{importKey, likePrefix(prefix)}},
		{`DELETE FROM rejects WHERE import_key = $1 AND part = $2`, []any{importKey, into}},
	}, "rejects", []string{"import_key", "part", "seq", "line", "user_id", "vendor", "reason"}, rows)
	if err != nil {
		return fmt.Errorf("merge rejects (%s): %w", s.Describe(), err)
	}
	return nil
}

// DeleteRejects removes the parts of an import whose names start with
// prefix.
func (s *Store) DeleteRejects(ctx context.Context, importKey, prefix string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM rejects WHERE import_key = $1 AND part LIKE $2 ESCAPE '\'`, importKey, likePrefix(prefix)); err != nil {
		return fmt.Errorf("delete rejects (%s): %w", s.Describe(), err)
	}
	return nil
}

// CountRejects is how many rejected rows the store holds for an import.
func (s *Store) CountRejects(ctx context.Context, importKey string) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM rejects WHERE import_key = $1`, importKey).Scan(&n); err != nil {
		return 0, fmt.Errorf("count rejects (%s): %w", s.Describe(), err)
	}
	return n, nil
}

// Rejects calls fn for each reject of an import whose part starts with
// prefix ("" for all), in source-line order, streaming: an import with
// millions of rejects is never held in memory.
func (s *Store) Rejects(ctx context.Context, importKey, prefix string, fn func(part string, r Reject) error) error {
	rows, err := s.db.QueryContext(ctx,
		`SELECT part, line, user_id, vendor, reason FROM rejects WHERE import_key = $1 AND part LIKE $2 ESCAPE '\' ORDER BY line, part, seq`,
		importKey, likePrefix(prefix))
	if err != nil {
		return fmt.Errorf("read rejects (%s): %w", s.Describe(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var part string
		var r Reject
		if err := rows.Scan(&part, &r.Line, &r.UserID, &r.Vendor, &r.Reason); err != nil {
			return fmt.Errorf("read rejects (%s): %w", s.Describe(), err)
		}
		if err := fn(part, r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rejects (%s): %w", s.Describe(), err)
	}
	return nil
}

// likePrefix is a LIKE pattern that matches strings starting with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}
