package store

import (
	"context"
	"fmt"
)

// PlannedChunk is one chunk of an import's plan: where its records are in
// the source and how many there are.
type PlannedChunk struct {
	Index     int   // 0-based, across the whole source
	Offset    int64 // first byte of the first record
	Length    int64 // bytes, through the last record's line ending
	Rows      int   // records
	FirstLine int64 // 1-based physical line of the first record
}

// PutPlan writes the chunks an import's scan planned, replacing any plan
// the import had (a scan that runs twice).
func (s *Store) PutPlan(ctx context.Context, importKey string, chunks []PlannedChunk) error {
	rows := make([][]any, len(chunks))
	for i, c := range chunks {
		rows[i] = []any{importKey, c.Index, c.Offset, c.Length, c.Rows, c.FirstLine}
	}
	err := s.dialect.load(ctx, s.db,
		[]stmt{{`DELETE FROM plans WHERE import_key = $1`, []any{importKey}}},
		"plans", []string{"import_key", "idx", "byte_off", "byte_len", "rows_n", "first_line"}, rows)
	if err != nil {
		return fmt.Errorf("write the plan (%s): %w", s.Describe(), err)
	}
	return nil
}

// PlanPage reads up to max chunks of an import's plan from index from, in
// order; done says the plan has no chunk after them.
func (s *Store) PlanPage(ctx context.Context, importKey string, from, max int) (chunks []PlannedChunk, done bool, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, byte_off, byte_len, rows_n, first_line FROM plans
		WHERE import_key = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, importKey, from, max+1)
	if err != nil {
		return nil, false, fmt.Errorf("read the plan (%s): %w", s.Describe(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var c PlannedChunk
		if err := rows.Scan(&c.Index, &c.Offset, &c.Length, &c.Rows, &c.FirstLine); err != nil {
			return nil, false, fmt.Errorf("read the plan (%s): %w", s.Describe(), err)
		}
		chunks = append(chunks, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read the plan (%s): %w", s.Describe(), err)
	}
	if len(chunks) > max {
		return chunks[:max], false, nil
	}
	return chunks, true, nil
}
