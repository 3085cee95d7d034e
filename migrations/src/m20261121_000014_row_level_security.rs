//! Row-level security (issue 16, "a second wall"): on PostgreSQL every tenant table admits only
//! the rows of the tenant named by the transaction-local setting `app.tenant_id`, whatever the
//! query says; the service runs as the role [`APP_ROLE`] (no `BYPASSRLS`), so a repository
//! query that forgot its tenant condition still sees one tenant. SQLite: nothing (one file per
//! deployment, no roles).
//!
//! The wall of one table is [`tenant_wall`]: RLS enabled and one policy `tenant_wall`, `USING`
//! and `WITH CHECK`
//!
//! ```sql
//! tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
//!   OR (SELECT current_setting('app.system', true)) = 'on'
//! ```
//!
//! (`tenants` itself: on `id`). The scalar subqueries are evaluated once per statement, not per
//! row; `NULLIF` because a setting that was set once in a session reads `''` afterwards, and no
//! tenant set means no row. `app.system = on` opens the wall for the cross-tenant work (lease
//! sweep, search backfill): crm-infra's `Database::system_tx`.
//!
//! Not `FORCE`d: the tables' owner (the user that migrates) is not bound by the policies. It
//! could switch them off anyway, the service never runs as it (it runs as [`APP_ROLE`]), and the
//! `SECURITY DEFINER` search function [`SEARCH_IDS`] relies on it to keep its indexes usable.
//!
//! A later migration that creates a tenant table adds it to the wall in one line:
//! `crate::m20261121_000014_row_level_security::tenant_wall(manager, "addresses").await?;`
//! (grants come from the default privileges set here).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// The role the service runs as on PostgreSQL (crm-infra's `DbConfig::role` default).
pub const APP_ROLE: &str = "crm_app";

/// Whether `role` is a plain lower-case SQL identifier (`[a-z_][a-z0-9_]{0,62}`), the only
/// role names [`app_role_sql`] accepts (they are spliced into DDL).
pub fn valid_role_name(role: &str) -> bool {
    let mut chars = role.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && role.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// SQL (PostgreSQL) that creates `role` when missing (`NOLOGIN NOBYPASSRLS`, cluster-wide,
/// safe against a concurrent creation by another database's migration) and lets the current
/// user switch to it. Idempotent. `role` must pass [`valid_role_name`].
pub fn create_role_sql(role: &str) -> String {
    format!(
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
             BEGIN \
               CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
             END; \
           END IF; \
           IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN \
             EXECUTE format('GRANT {role} TO %I', current_user); \
           END IF; \
         END $$"
    )
}

/// SQL (PostgreSQL) that gives `role` the rights the service needs on the current database's
/// `public` schema: data rights on every table and sequence, now and (default privileges of
/// the current user) for tables created later. Idempotent. `role` must pass
/// [`valid_role_name`].
pub fn grant_role_sql(role: &str) -> String {
    format!(
        "GRANT USAGE ON SCHEMA public TO {role}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; \
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}; \
         ALTER DEFAULT PRIVILEGES IN SCHEMA public \
           GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}; \
         ALTER DEFAULT PRIVILEGES IN SCHEMA public \
           GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}"
    )
}

/// Puts `table` behind the tenant wall on PostgreSQL (no-op on SQLite): RLS enabled, and the
/// policy `tenant_wall` on its `tenant_id` (`id` for `tenants`) for every command.
/// Idempotent (the policy is replaced). `table` must be a plain identifier with a UUID
/// `tenant_id` column.
///
/// # Errors
/// The database's error (no such table or column).
pub async fn tenant_wall(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let column = if table == "tenants" {
        "id"
    } else {
        "tenant_id"
    };
    let rule = format!(
        "{column} = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid) \
         OR (SELECT current_setting('app.system', true)) = 'on'"
    );
    let db = manager.get_connection();
    for sql in [
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        format!("DROP POLICY IF EXISTS tenant_wall ON {table}"),
        format!("CREATE POLICY tenant_wall ON {table} USING ({rule}) WITH CHECK ({rule})"),
    ] {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// The customers of tenant `t` matching a search (crm-infra's `search_condition`): substring
/// patterns on `search_text` (and `search_phones`), or one of the typo `terms` (space-separated,
/// letters and digits; empty for none). Runs as the
/// tables' owner (`SECURITY DEFINER`), whom the policies do not bind, so the trigram and terms
/// GIN indexes serve the match (under a policy the planner may not use `LIKE` or `&&`, which are
/// not leakproof, as index conditions); it answers only for the transaction's own tenant
/// (`app.tenant_id`) or with the wall open, so it reveals nothing the caller could not read.
const SEARCH_IDS: &str = r#"
CREATE OR REPLACE FUNCTION crm_search_ids(t uuid, text_pattern text, phones_pattern text, terms text)
RETURNS SETOF uuid LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 100
SET search_path = public, pg_temp AS $fn$
BEGIN
  IF t IS DISTINCT FROM NULLIF(current_setting('app.tenant_id', true), '')::uuid
     AND current_setting('app.system', true) IS DISTINCT FROM 'on' THEN
    RETURN;
  END IF;
  IF phones_pattern IS NULL THEN
    RETURN QUERY SELECT c.id FROM customers c
      WHERE c.tenant_id = t AND c.search_text LIKE text_pattern;
  ELSE
    RETURN QUERY SELECT c.id FROM customers c
      WHERE c.tenant_id = t
        AND (c.search_text LIKE text_pattern OR c.search_phones LIKE phones_pattern);
  END IF;
  IF terms <> '' THEN
    RETURN QUERY SELECT c.id FROM customers c
      WHERE c.tenant_id = t AND string_to_array(c.search_terms, ' ') && string_to_array(terms, ' ');
  END IF;
END
$fn$"#;

/// The role, its grants, and the wall on every table that has a `tenant_id` column.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&create_role_sql(APP_ROLE)).await?;
        db.execute_unprepared(&grant_role_sql(APP_ROLE)).await?;
        let tables = db
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT c.table_name::text AS t FROM information_schema.columns c \
                 JOIN information_schema.tables t \
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' \
                   AND t.table_type = 'BASE TABLE' \
                 ORDER BY 1",
            ))
            .await?;
        db.execute_unprepared(SEARCH_IDS).await?;
        tenant_wall(manager, "tenants").await?;
        for row in tables {
            let table: String = row.try_get("", "t")?;
            tenant_wall(manager, &table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        let tables = db
            .query_all_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT DISTINCT tablename::text AS t FROM pg_policies \
                 WHERE schemaname = 'public' AND policyname = 'tenant_wall'",
            ))
            .await?;
        for row in tables {
            let table: String = row.try_get("", "t")?;
            db.execute_unprepared(&format!(
                "DROP POLICY tenant_wall ON {table}; \
                 ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY; \
                 ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
            ))
            .await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS crm_search_ids(uuid, text, text, text)")
            .await?;
        // The role is cluster-wide (other databases may use it): it stays.
        Ok(())
    }
}
