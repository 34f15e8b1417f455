package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// dialect is where the two backends differ: how a statement tests a column
// against a set of values, and how many rows are loaded at once. Every
// other statement is the same SQL in both.
type dialect interface {
	// inSet is the condition "col is one of the values of parameter $n",
	// whose argument setArg makes.
	inSet(col string, n int) string
	setArg(vs []int64) (any, error)
	// load runs the statements in pre, then loads rows into table, all in
	// one transaction.
	load(ctx context.Context, db *sql.DB, pre []stmt, table string, cols []string, rows [][]any) error
	// serialize makes transactions that call it with the same key run one
	// after the other, and refreshes the planner's statistics of the
	// tables a large statement is about to read.
	serialize(ctx context.Context, tx *sql.Tx, key string, analyze ...string) error
	// settle runs after a transaction that wrote a large share of the
	// database.
	settle(ctx context.Context, db *sql.DB)
}

// stmt is one SQL statement with its arguments.
type stmt struct {
	sql  string
	args []any
}

type sqliteDialect struct{}

func (sqliteDialect) inSet(col string, n int) string {
	return fmt.Sprintf("%s IN (SELECT value FROM json_each($%d))", col, n)
}

func (sqliteDialect) setArg(vs []int64) (any, error) {
	if vs == nil {
		vs = []int64{}
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// load inserts with one prepared statement in one transaction: SQLite's
// bulk path.
func (sqliteDialect) load(ctx context.Context, db *sql.DB, pre []stmt, table string, cols []string, rows [][]any) error {
	return inTx(ctx, db, func(tx *sql.Tx) error {
		for _, s := range pre {
			if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
				return err
			}
		}
		if len(rows) == 0 {
			return nil
		}
		marks := make([]string, len(cols))
		for i := range marks {
			marks[i] = "$" + strconv.Itoa(i+1)
		}
		ins, err := tx.PrepareContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, strings.Join(cols, ", "), strings.Join(marks, ", ")))
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, r := range rows {
			if _, err := ins.ExecContext(ctx, r...); err != nil {
				return err
			}
		}
		return nil
	})
}

// serialize does nothing on SQLite: an immediate transaction holds the
// database's one write lock from its start, and the planner uses the
// indexes without statistics.
func (sqliteDialect) serialize(context.Context, *sql.Tx, string, ...string) error { return nil }

// settle checkpoints the WAL and truncates it: a state preparation writes
// every user of the run in one transaction, and its pages would otherwise
// stay in the WAL file until the next reset.
func (sqliteDialect) settle(ctx context.Context, db *sql.DB) {
	_, _ = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
}

type postgresDialect struct{}

// settle does nothing: PostgreSQL's own checkpoints and autovacuum look
// after its files.
func (postgresDialect) settle(context.Context, *sql.DB) {}

// serialize takes a transaction-scoped advisory lock on the key, and
// analyzes the tables: freshly filled, they have no statistics, and
// without them the planner may scan a million rows once per row.
func (postgresDialect) serialize(ctx context.Context, tx *sql.Tx, key string, analyze ...string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
		return err
	}
	for _, t := range analyze {
		if _, err := tx.ExecContext(ctx, "ANALYZE "+t); err != nil {
			return err
		}
	}
	return nil
}

func (postgresDialect) inSet(col string, n int) string { return fmt.Sprintf("%s = ANY($%d)", col, n) }

func (postgresDialect) setArg(vs []int64) (any, error) {
	if vs == nil {
		vs = []int64{}
	}
	return vs, nil
}

// load streams rows with COPY, PostgreSQL's bulk path, in the transaction
// that ran pre.
func (postgresDialect) load(ctx context.Context, db *sql.DB, pre []stmt, table string, cols []string, rows [][]any) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		return pgx.BeginFunc(ctx, pc, func(tx pgx.Tx) error {
			for _, s := range pre {
				if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
					return err
				}
			}
			if len(rows) == 0 {
				return nil
			}
			_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
			return err
		})
	})
}

func openPostgres(u string, maxConns int) (*Store, error) {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		// pgx's own message quotes the setting with only the user info's
		// password masked; what it found wrong may quote part of it.
		why := err
		if inner := errors.Unwrap(err); inner != nil {
			why = inner
		}
		shown := ""
		if r := redactURL(u); r != "" {
			shown = " (" + r + ")"
		}
		return nil, fmt.Errorf("%s: not a PostgreSQL URL%s: %s", EnvVar, shown, scrub(why.Error(), u))
	}
	db := stdlib.OpenDB(*cfg)
	if maxConns <= 0 {
		maxConns = 16
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	where := fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	return &Store{db: db, backend: Postgres, where: where, dialect: postgresDialect{}}, nil
}

// inTx runs fn in a transaction and commits it, or rolls it back when fn
// fails.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
