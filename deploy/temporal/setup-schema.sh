#!/bin/sh
# One-shot schema job, run by docker-compose.yml in temporalio/admin-tools before the
# Temporal server starts. It creates the two PostgreSQL databases the server needs
# (history and visibility) and brings each schema to the version this admin-tools
# release ships. Every step is a no-op when already done, so the job runs on every
# `docker compose up`, and upgrading the image tags upgrades the schema with them.
#
# temporal-sql-tool reads its connection from SQL_PLUGIN, SQL_HOST, SQL_PORT,
# SQL_USER and SQL_PASSWORD; the compose file sets them.
set -eu

: "${SQL_PLUGIN:?SQL_PLUGIN must name the sql plugin (postgres12)}"
: "${SQL_HOST:?SQL_HOST must name the PostgreSQL host}"
: "${SQL_USER:?SQL_USER must name the PostgreSQL user}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set (POSTGRES_PASSWORD in .env)}"

# database name, then the schema embedded in temporal-sql-tool that belongs in it
migrate() {
	db=$1
	schema=$2
	echo "schema: database $db (schema $schema)"
	temporal-sql-tool --database "$db" create-database
	# Version 0.0 only creates the versioning tables; update-schema then applies
	# every versioned step above what the database already has.
	temporal-sql-tool --database "$db" setup-schema --version 0.0
	temporal-sql-tool --database "$db" update-schema --schema-name "$schema"
}

migrate "${TEMPORAL_DB:-temporal}" postgresql/v12/temporal
migrate "${VISIBILITY_DB:-temporal_visibility}" postgresql/v12/visibility
echo "schema: done"
