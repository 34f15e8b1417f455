#!/bin/sh
# One-shot job, run by docker-compose.yml in the postgres image once PostgreSQL is
# healthy. It creates the importer's own role and database on the PostgreSQL that
# also holds Temporal's, so that every worker replica keeps its state in one place
# instead of on its own disk (the worker's IMPORTER_STORE points there). It creates
# only the role and the empty database: the worker applies its schema migrations
# itself when it starts.
#
# Safe to run again, and it runs on every `docker compose up`: a missing role or
# database is created, the role's password is set to IMPORTER_DB_PASSWORD each
# time (so a new password in .env takes effect on the next `up`), and the
# database's contents are never touched.
#
#   PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
#                          an administrator's connection (psql reads these itself)
#   IMPORTER_DB_NAME       database to create (default importer)
#   IMPORTER_DB_USER       role that owns it and that the worker logs in as (default importer)
#   IMPORTER_DB_PASSWORD   that role's password (required)
set -eu

: "${PGHOST:?PGHOST must name the PostgreSQL host}"
: "${PGUSER:?PGUSER must name a PostgreSQL administrator}"
: "${IMPORTER_DB_PASSWORD:?IMPORTER_DB_PASSWORD must be set (in .env)}"
IMPORTER_DB_NAME=${IMPORTER_DB_NAME:-importer}
IMPORTER_DB_USER=${IMPORTER_DB_USER:-importer}
export IMPORTER_DB_NAME IMPORTER_DB_USER IMPORTER_DB_PASSWORD

echo "importer-db: role $IMPORTER_DB_USER, database $IMPORTER_DB_NAME on $PGHOST"
# The SQL file reads the three IMPORTER_DB_* variables with \getenv, so the
# password never appears on a command line.
psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -f "$(dirname "$0")/create-database.sql"
echo "importer-db: done"
