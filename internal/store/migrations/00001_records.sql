-- The importer's records. One schema serves SQLite and PostgreSQL: the
-- types and statements below mean the same in both. On SQLite every table
-- is made WITHOUT ROWID as it is read (see sqliteFS), so that its key is the
-- table instead of an index beside it: half the size for a state of
-- millions of users. Hashes are stored as the signed 64-bit form of the
-- unsigned hash.

-- +goose Up

-- Every row an import or audience sync did not deliver. A part is one
-- batch of one chunk ("c00000003-b00001") or a step of an audience sync;
-- an activity that runs twice replaces its own part.
CREATE TABLE rejects (
    import_key TEXT    NOT NULL,
    part       TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    line       BIGINT  NOT NULL,
    user_id    TEXT    NOT NULL,
    vendor     TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    PRIMARY KEY (import_key, part, seq)
);

-- The duplicate scan of an import: one row per scan, so a chunk can tell
-- "no duplicates" from "this store never saw the scan", and the lines a
-- later line of the same user replaces.
CREATE TABLE duplicate_scans (
    import_key TEXT   NOT NULL PRIMARY KEY,
    superseded BIGINT NOT NULL
);
CREATE TABLE duplicates (
    import_key TEXT   NOT NULL,
    line       BIGINT NOT NULL,
    by_line    BIGINT NOT NULL,
    PRIMARY KEY (import_key, line)
);

-- Incremental state. A run stages what each batch saw (state_staged);
-- preparing the run computes its users (state_users under the run's key)
-- and the users gone since the current state (state_disappeared);
-- committing points state_heads at the run, which is one row update.
CREATE TABLE state_staged (
    state_key    TEXT    NOT NULL,
    run_key      TEXT    NOT NULL,
    part         TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    key_hash     BIGINT  NOT NULL,
    content_hash BIGINT  NOT NULL,
    user_key     TEXT    NOT NULL,
    kept         BOOLEAN NOT NULL,
    PRIMARY KEY (state_key, run_key, part, seq)
);
-- For the users a run no longer has: one lookup by hash each. On the hash
-- alone, so that no query that names a part can take it for the key.
CREATE INDEX state_staged_by_hash ON state_staged (key_hash);

CREATE TABLE state_users (
    state_key    TEXT   NOT NULL,
    run_key      TEXT   NOT NULL,
    key_hash     BIGINT NOT NULL,
    content_hash BIGINT NOT NULL,
    user_key     TEXT   NOT NULL,
    PRIMARY KEY (state_key, run_key, key_hash)
);

CREATE TABLE state_runs (
    state_key   TEXT   NOT NULL,
    run_key     TEXT   NOT NULL,
    users       BIGINT NOT NULL,
    disappeared BIGINT NOT NULL,
    PRIMARY KEY (state_key, run_key)
);

CREATE TABLE state_disappeared (
    state_key TEXT NOT NULL,
    run_key   TEXT NOT NULL,
    user_key  TEXT NOT NULL,
    PRIMARY KEY (state_key, run_key, user_key)
);
CREATE INDEX state_disappeared_by_run ON state_disappeared (run_key);

CREATE TABLE state_heads (
    state_key TEXT NOT NULL PRIMARY KEY,
    run_key   TEXT NOT NULL
);

-- +goose Down
DROP TABLE state_heads;
DROP TABLE state_disappeared;
DROP TABLE state_runs;
DROP TABLE state_users;
DROP TABLE state_staged;
DROP TABLE duplicates;
DROP TABLE duplicate_scans;
DROP TABLE rejects;
