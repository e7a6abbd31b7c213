-- Row-level security: the wall between tenants holds in the database, not only in the queries.
--
-- Two roles, neither a login, neither with BYPASSRLS, neither owning a table:
--
-- * agentic_tenant runs every tenant-facing statement. The store sets it, and the tenant
--   (agentic.tenant_id, from the authenticated API key), for one transaction at a time with
--   set_config(…, true); its policies admit only that tenant's rows, so a query that forgets
--   its WHERE tenant_id still sees one tenant. With no tenant set it sees nothing.
-- * agentic_system runs the statements of work that spans tenants: workers, the webhook
--   dispatcher, the outbox sweep, the admin API, API-key lookup (which finds the tenant).
--   Its policies admit every row; it is a role, so no session variable can grant it.
--
-- FORCE makes the policies bind the tables' owner too: a statement run as the owner (the
-- login that migrates) without one of these roles sees no rows at all. Superusers bypass
-- row-level security whatever the policies say; production logins must not be superusers.
--
-- The login is a member of both roles (to SET ROLE) without inheriting their privileges, or
-- the system policy would admit its own statements. The roles are cluster-wide and created
-- here when missing. A login that may not create roles needs a DBA to run, once:
--   CREATE ROLE agentic_tenant NOLOGIN; CREATE ROLE agentic_system NOLOGIN;
--   ALTER ROLE <login> NOINHERIT; GRANT agentic_tenant, agentic_system TO <login>;
-- (on PostgreSQL 16 and later, GRANT … TO <login> WITH INHERIT FALSE instead of NOINHERIT).

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    r text;
BEGIN
    -- Roles are shared by every database of the cluster: one migration at a time makes them.
    PERFORM pg_advisory_xact_lock(hashtext('agentic.roles'));
    FOREACH r IN ARRAY ARRAY['agentic_tenant', 'agentic_system'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- made by another database's migration in the meantime
            END;
        END IF;
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r AND (rolbypassrls OR rolsuper)) THEN
            RAISE EXCEPTION 'role % must not have BYPASSRLS or SUPERUSER', r;
        END IF;
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            IF current_setting('server_version_num')::int >= 160000 THEN
                EXECUTE format('GRANT %I TO %I WITH INHERIT FALSE', r, current_user);
            ELSE
                EXECUTE format('GRANT %I TO %I', r, current_user);
            END IF;
        END IF;
    END LOOP;
    -- The login may SET ROLE to both, but must not inherit their privileges: policies apply
    -- to whoever has a role's privileges, so an inheriting login's own statements (sent
    -- without a role, by mistake) would pass the system policies and see every row.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
        AND (pg_has_role(current_user, 'agentic_system', 'USAGE') OR pg_has_role(current_user, 'agentic_tenant', 'USAGE')) THEN
        IF current_setting('server_version_num')::int < 160000 THEN
            BEGIN
                EXECUTE format('ALTER ROLE %I NOINHERIT', current_user);
            EXCEPTION WHEN insufficient_privilege THEN
                NULL; -- reported just below
            END;
        END IF;
        IF pg_has_role(current_user, 'agentic_system', 'USAGE') OR pg_has_role(current_user, 'agentic_tenant', 'USAGE') THEN
            RAISE EXCEPTION 'login % inherits the privileges of agentic_system or agentic_tenant, so its own statements would pass their row-level security policies', current_user
                USING HINT = format('Run as a superuser: ALTER ROLE %I NOINHERIT (PostgreSQL 15), or GRANT agentic_tenant, agentic_system TO %I WITH INHERIT FALSE (16 and later).', current_user, current_user);
        END IF;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO agentic_tenant, agentic_system', current_schema());
END
$$;
-- +goose StatementEnd

-- What each role may do at all; the policies below decide on which rows.
GRANT SELECT, INSERT, UPDATE ON tenants, api_keys, tasks, idempotency_keys, usage_records,
    webhook_deliveries TO agentic_system;
GRANT SELECT ON tenants, usage_records, webhook_deliveries TO agentic_tenant;
GRANT SELECT, INSERT, UPDATE ON tasks, idempotency_keys TO agentic_tenant;
GRANT INSERT ON usage_records TO agentic_tenant; -- canceling a queued task records its usage
-- api_keys: nothing. Keys are looked up by hash before the tenant is known, as the system.

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON tenants TO agentic_tenant
    USING (id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON tenants TO agentic_system USING (true) WITH CHECK (true);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON api_keys TO agentic_tenant
    USING (tenant_id = current_setting('agentic.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON api_keys TO agentic_system USING (true) WITH CHECK (true);

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON tasks TO agentic_tenant
    USING (tenant_id = current_setting('agentic.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON tasks TO agentic_system USING (true) WITH CHECK (true);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON idempotency_keys TO agentic_tenant
    USING (tenant_id = current_setting('agentic.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON idempotency_keys TO agentic_system USING (true) WITH CHECK (true);

ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON usage_records TO agentic_tenant
    USING (tenant_id = current_setting('agentic.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON usage_records TO agentic_system USING (true) WITH CHECK (true);

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON webhook_deliveries TO agentic_tenant
    USING (tenant_id = current_setting('agentic.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON webhook_deliveries TO agentic_system USING (true) WITH CHECK (true);

-- +goose Down
DROP POLICY tenant_rows ON webhook_deliveries;
DROP POLICY system_rows ON webhook_deliveries;
ALTER TABLE webhook_deliveries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON usage_records;
DROP POLICY system_rows ON usage_records;
ALTER TABLE usage_records NO FORCE ROW LEVEL SECURITY;
ALTER TABLE usage_records DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON idempotency_keys;
DROP POLICY system_rows ON idempotency_keys;
ALTER TABLE idempotency_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON tasks;
DROP POLICY system_rows ON tasks;
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tasks DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON api_keys;
DROP POLICY system_rows ON api_keys;
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON tenants;
DROP POLICY system_rows ON tenants;
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON tenants, api_keys, tasks, idempotency_keys, usage_records, webhook_deliveries
    FROM agentic_tenant, agentic_system;
