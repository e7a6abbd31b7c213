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
