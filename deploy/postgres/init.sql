-- Run once by the postgres image on an empty data directory (deploy/compose.yaml).
-- The application connects as "agentic": the owner of its database (so it can migrate) but
-- neither a superuser nor BYPASSRLS, since those roles skip row-level security.
-- LOCAL EXAMPLE CREDENTIALS: never reuse them anywhere else.
CREATE ROLE agentic LOGIN PASSWORD 'agentic-local-example' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE DATABASE agentic OWNER agentic;
