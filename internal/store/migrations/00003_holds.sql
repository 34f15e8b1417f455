-- When a vendor connection may be sent to again: a vendor that answers 429
-- names a time (Retry-After) before which no worker sends to it, whichever
-- attempt of whichever chunk comes next, on whichever worker. A hold is
-- only ever extended.

-- +goose Up
CREATE TABLE vendor_holds (
    vendor     TEXT   NOT NULL,
    connection TEXT   NOT NULL,
    until_ms   BIGINT NOT NULL,
    PRIMARY KEY (vendor, connection)
);

-- +goose Down
DROP TABLE vendor_holds;
