package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// StateRecord is one user as a run of an incremental import saw it: the
// hashes of its key and of the content sent, and the key itself.
type StateRecord struct {
	KeyHash     uint64
	ContentHash uint64
	Key         string
	// Kept: the user goes into the new state (delivered, or unchanged and
	// skipped). A user in the list that was not delivered (invalid now, or
	// refused by the vendor) is recorded as seen but not kept, so it is
	// neither skipped next time nor reported as gone.
	Kept bool
}

// PreparedState is what a run's commit would do.
type PreparedState struct {
	Users       int // users in the new state
	Disappeared int // users of the old state the list no longer has
}

// StageState writes the records of one part (a batch) of a run, replacing
// what the part held.
func (s *Store) StageState(ctx context.Context, stateKey, runKey, part string, recs []StateRecord) error {
	rows := make([][]any, len(recs))
	for i, r := range recs {
		rows[i] = []any{stateKey, runKey, part, i, int64(r.KeyHash), int64(r.ContentHash), r.Key, r.Kept}
	}
	err := s.dialect.load(ctx, s.db,
		[]stmt{{`DELETE FROM state_staged WHERE state_key = $1 AND run_key = $2 AND part = $3`, []any{stateKey, runKey, part}}},
		"state_staged", []string{"state_key", "run_key", "part", "seq", "key_hash", "content_hash", "user_key", "kept"}, rows)
	if err != nil {
		return fmt.Errorf("write incremental state (%s): %w", s.Describe(), err)
	}
	return nil
}

// StagedCount is how many records a run has staged.
func (s *Store) StagedCount(ctx context.Context, stateKey, runKey string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM state_staged WHERE state_key = $1 AND run_key = $2`, stateKey, runKey).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count incremental state records (%s): %w", s.Describe(), err)
	}
	return n, nil
}

// LookupState returns, for those of the key hashes that the current state
// of stateKey has, the content hash last delivered.
func (s *Store) LookupState(ctx context.Context, stateKey string, keyHashes []uint64) (map[uint64]uint64, error) {
	out := make(map[uint64]uint64, len(keyHashes))
	if len(keyHashes) == 0 {
		return out, nil
	}
	ks := make([]int64, len(keyHashes))
	for i, k := range keyHashes {
		ks[i] = int64(k)
	}
	arg, err := s.dialect.setArg(ks)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT u.key_hash, u.content_hash
		FROM state_heads h JOIN state_users u ON u.state_key = h.state_key AND u.run_key = h.run_key
		WHERE h.state_key = $1 AND `+s.dialect.inSet("u.key_hash", 2), stateKey, arg)
	if err != nil {
		return nil, fmt.Errorf("read incremental state (%s): %w", s.Describe(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, c int64
		if err := rows.Scan(&k, &c); err != nil {
			return nil, fmt.Errorf("read incremental state (%s): %w", s.Describe(), err)
		}
		out[uint64(k)] = uint64(c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read incremental state (%s): %w", s.Describe(), err)
	}
	return out, nil
}

// StateUsers is how many users the current state of stateKey has.
func (s *Store) StateUsers(ctx context.Context, stateKey string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM state_heads h JOIN state_users u ON u.state_key = h.state_key AND u.run_key = h.run_key
		WHERE h.state_key = $1`, stateKey).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read incremental state (%s): %w", s.Describe(), err)
	}
	return n, nil
}

// head is the run whose users are the current state; "" for none.
func head(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, stateKey string) (string, error) {
	var run string
	err := q.QueryRowContext(ctx, `SELECT run_key FROM state_heads WHERE state_key = $1`, stateKey).Scan(&run)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return run, err
}

// PrepareState computes a run's users from its staged records (a user
// recorded twice counts as its last record has it, by part then order) and
// lists the users of the current state the run did not see, without
// changing the current state. It is safe to run again.
func (s *Store) PrepareState(ctx context.Context, stateKey, runKey string) (PreparedState, error) {
	var out PreparedState
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		// Two attempts of one preparation (one abandoned, still running)
		// must not interleave.
		if err := s.dialect.serialize(ctx, tx, "state:"+stateKey, "state_staged", "state_users"); err != nil {
			return err
		}
		cur, err := head(ctx, tx, stateKey)
		if err != nil {
			return err
		}
		if cur == runKey {
			// Committed already: report what the preparation found.
			return tx.QueryRowContext(ctx, `SELECT users, disappeared FROM state_runs WHERE state_key = $1 AND run_key = $2`,
				stateKey, runKey).Scan(&out.Users, &out.Disappeared)
		}
		for _, q := range []string{
			`DELETE FROM state_users WHERE state_key = $1 AND run_key = $2`,
			`DELETE FROM state_disappeared WHERE state_key = $1 AND run_key = $2`,
			`DELETE FROM state_runs WHERE state_key = $1 AND run_key = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, stateKey, runKey); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO state_users (state_key, run_key, key_hash, content_hash, user_key)
			SELECT $1, $2, key_hash, content_hash, user_key FROM (
				SELECT key_hash, content_hash, user_key, kept,
					ROW_NUMBER() OVER (PARTITION BY key_hash ORDER BY part DESC, seq DESC) AS rn
				FROM state_staged WHERE state_key = $1 AND run_key = $2) s
			WHERE rn = 1 AND kept`, stateKey, runKey)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		out.Users = int(n)
		if cur != "" {
			res, err = tx.ExecContext(ctx, `INSERT INTO state_disappeared (state_key, run_key, user_key)
				SELECT $1, $2, u.user_key FROM state_users u
				WHERE u.state_key = $1 AND u.run_key = $3 AND NOT EXISTS (
					SELECT 1 FROM state_staged s WHERE s.state_key = $1 AND s.run_key = $2 AND s.key_hash = u.key_hash)`,
				stateKey, runKey, cur)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			out.Disappeared = int(n)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO state_runs (state_key, run_key, users, disappeared) VALUES ($1, $2, $3, $4)`,
			stateKey, runKey, out.Users, out.Disappeared)
		return err
	})
	if err != nil {
		return PreparedState{}, fmt.Errorf("prepare incremental state (%s): %w", s.Describe(), err)
	}
	s.dialect.settle(ctx, s.db)
	return out, nil
}

// Disappeared calls fn with each user a prepared run (an import, by its
// key) found gone from the list, in key order.
func (s *Store) Disappeared(ctx context.Context, runKey string, fn func(key string) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT user_key FROM state_disappeared WHERE run_key = $1 ORDER BY user_key`, runKey)
	if err != nil {
		return fmt.Errorf("read disappeared users (%s): %w", s.Describe(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return fmt.Errorf("read disappeared users (%s): %w", s.Describe(), err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read disappeared users (%s): %w", s.Describe(), err)
	}
	return nil
}

// ErrNotPrepared is returned by CommitState for a run that PrepareState
// has not prepared.
var ErrNotPrepared = errors.New("the run's state was not prepared")

// CommitState makes a prepared run's users the current state, in one
// transaction, and drops the old state and the run's staged records.
// Committing a run that is current already does nothing.
func (s *Store) CommitState(ctx context.Context, stateKey, runKey string) error {
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.dialect.serialize(ctx, tx, "state:"+stateKey); err != nil {
			return err
		}
		cur, err := head(ctx, tx, stateKey)
		if err != nil {
			return err
		}
		if cur == runKey {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM state_runs WHERE state_key = $1 AND run_key = $2`, stateKey, runKey).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotPrepared
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO state_heads (state_key, run_key) VALUES ($1, $2)
			ON CONFLICT (state_key) DO UPDATE SET run_key = excluded.run_key`, stateKey, runKey); err != nil {
			return err
		}
		if cur != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM state_users WHERE state_key = $1 AND run_key = $2`, stateKey, cur); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM state_staged WHERE state_key = $1 AND run_key = $2`, stateKey, runKey)
		return err
	})
	if err != nil {
		return fmt.Errorf("commit incremental state (%s): %w", s.Describe(), err)
	}
	s.dialect.settle(ctx, s.db)
	return nil
}

// DiscardState drops what a run that did not succeed staged and prepared,
// leaving the current state as it was. Discarding the current run does
// nothing.
func (s *Store) DiscardState(ctx context.Context, stateKey, runKey string) error {
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := s.dialect.serialize(ctx, tx, "state:"+stateKey); err != nil {
			return err
		}
		cur, err := head(ctx, tx, stateKey)
		if err != nil || cur == runKey {
			return err
		}
		for _, q := range []string{
			`DELETE FROM state_staged WHERE state_key = $1 AND run_key = $2`,
			`DELETE FROM state_users WHERE state_key = $1 AND run_key = $2`,
			`DELETE FROM state_disappeared WHERE state_key = $1 AND run_key = $2`,
			`DELETE FROM state_runs WHERE state_key = $1 AND run_key = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, stateKey, runKey); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("discard incremental state (%s): %w", s.Describe(), err)
	}
	return nil
}
