-- Run once by the postgres image on an empty data directory (deploy/compose.yaml).
-- The application connects as "agentic": the owner of its database (so it can migrate) but
-- neither a superuser nor BYPASSRLS, since those roles skip row-level security. It may become
-- agentic_tenant and agentic_system (SET ROLE, once per transaction) but, being NOINHERIT, has
-- none of their privileges itself: a statement it sends without a role sees no rows.
-- LOCAL EXAMPLE CREDENTIALS: never reuse them anywhere else.
CREATE ROLE agentic LOGIN PASSWORD 'agentic-local-example' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
CREATE ROLE agentic_tenant NOLOGIN;
CREATE ROLE agentic_system NOLOGIN;
GRANT agentic_tenant, agentic_system TO agentic;
CREATE DATABASE agentic OWNER agentic;

-- The backup worker's login (deploy/k8s/backup.yaml, BACKUP_DATABASE_URL). pg_dump must read
-- every row of tables that FORCE row-level security, so it has BYPASSRLS, and no privilege
-- but SELECT on the tables and sequences the app's migrations create. It records each backup run as
-- agentic_system, like the app. LOCAL EXAMPLE CREDENTIALS, as above.
CREATE ROLE agentic_backup LOGIN PASSWORD 'agentic-backup-local-example' NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS NOINHERIT;
GRANT agentic_system TO agentic_backup;
\connect agentic
-- The app owns the schema it migrates outright: as NOINHERIT it does not get the privileges
-- of pg_database_owner, which owns public by default (PostgreSQL 15 and later).
ALTER SCHEMA public OWNER TO agentic;
ALTER DEFAULT PRIVILEGES FOR ROLE agentic IN SCHEMA public GRANT SELECT ON TABLES TO agentic_backup;
ALTER DEFAULT PRIVILEGES FOR ROLE agentic IN SCHEMA public GRANT SELECT ON SEQUENCES TO agentic_backup;
