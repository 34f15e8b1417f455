-- Creates the importer's role and database; run by create-database.sh, which
-- explains the variables. Every statement is safe to run again.
--
-- The names and the password are psql variables quoted by format() (%I for an
-- identifier, %L for a literal), and \gexec runs the statement a query returns:
-- PostgreSQL has neither CREATE ROLE IF NOT EXISTS nor CREATE DATABASE IF NOT
-- EXISTS, and CREATE DATABASE cannot run inside a DO block.
\set ON_ERROR_STOP on
\getenv db IMPORTER_DB_NAME
\getenv user IMPORTER_DB_USER
\getenv password IMPORTER_DB_PASSWORD

-- The role: created when missing; its password and rights set on every run.
SELECT format('CREATE ROLE %I', :'user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              :'user', :'password') \gexec

-- The database: created when missing, owned by the role, so that the worker's
-- migrations may create tables in its public schema.
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \gexec
-- Only its owner (and administrators) may connect to it.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
