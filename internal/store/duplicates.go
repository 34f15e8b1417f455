package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Superseded is a line that a later line of the same user replaces.
type Superseded struct {
	Line, By int64
}

// ErrNoScan is returned for an import whose duplicate scan this store has
// no record of: the scan ran against another store.
var ErrNoScan = errors.New("no duplicate scan recorded")

// PutDuplicates records an import's duplicate scan, replacing an earlier
// record of it.
func (s *Store) PutDuplicates(ctx context.Context, importKey string, lines []Superseded) error {
	rows := make([][]any, len(lines))
	for i, l := range lines {
		rows[i] = []any{importKey, l.Line, l.By}
	}
	err := s.dialect.load(ctx, s.db, []stmt{
		{`DELETE FROM duplicates WHERE import_key = $1`, []any{importKey}},
		{`DELETE FROM duplicate_scans WHERE import_key = $1`, []any{importKey}},
		{`INSERT INTO duplicate_scans (import_key, superseded) VALUES ($1, $2)`, []any{importKey, len(lines)}},
	}, "duplicates", []string{"import_key", "line", "by_line"}, rows)
	if err != nil {
		return fmt.Errorf("write the duplicate scan (%s): %w", s.Describe(), err)
	}
	return nil
}

// SupersededAmong returns, of the given lines, those a later line replaces
// (line → the replacing line). It fails with ErrNoScan when the store has
// no record of the import's scan.
func (s *Store) SupersededAmong(ctx context.Context, importKey string, lines []int64) (map[int64]int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT superseded FROM duplicate_scans WHERE import_key = $1`, importKey).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoScan
	}
	if err != nil {
		return nil, fmt.Errorf("read the duplicate scan (%s): %w", s.Describe(), err)
	}
	out := map[int64]int64{}
	if n == 0 || len(lines) == 0 {
		return out, nil
	}
	arg, err := s.dialect.setArg(lines)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT line, by_line FROM duplicates WHERE import_key = $1 AND `+s.dialect.inSet("line", 2), importKey, arg)
	if err != nil {
		return nil, fmt.Errorf("read the duplicate scan (%s): %w", s.Describe(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var l, by int64
		if err := rows.Scan(&l, &by); err != nil {
			return nil, fmt.Errorf("read the duplicate scan (%s): %w", s.Describe(), err)
		}
		out[l] = by
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the duplicate scan (%s): %w", s.Describe(), err)
	}
	return out, nil
}
