-- The chunks of an import's list, planned by the duplicate scan's pass
-- over it, so planning reads them here instead of reading the list again.
-- A scan that runs twice replaces its import's plan.

-- +goose Up
CREATE TABLE plans (
    import_key TEXT    NOT NULL,
    idx        INTEGER NOT NULL,
    byte_off   BIGINT  NOT NULL,
    byte_len   BIGINT  NOT NULL,
    rows_n     INTEGER NOT NULL,
    first_line BIGINT  NOT NULL,
    PRIMARY KEY (import_key, idx)
);

-- +goose Down
DROP TABLE plans;
