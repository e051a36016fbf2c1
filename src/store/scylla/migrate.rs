//! Versioned schema migrations of the ScyllaDB backend: `schema.cql` is migration 1; later
//! ones append to [`MIGRATIONS`]. Applied in order by `jood migrate` and, when
//! `store.scylla.auto_migrate`, at start; each applied version is recorded in
//! `schema_migrations`, so a migration runs once per keyspace. Every statement is
//! `IF NOT EXISTS`, so a migration interrupted half-way is simply applied again.

use super::session::{db, Db};
use crate::store::StoreResult;

/// (version, name, CQL). Never edit an applied migration: add the next one.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial schema", include_str!("../schema.cql")),
    (2, "tracked links and WhatsApp history", include_str!("../schema_2.cql")),
];

/// The statements of a CQL script: comments dropped, split on `;`.
pub fn statements(script: &str) -> Vec<String> {
    let without_comments: String = script
        .lines()
        .map(|l| match l.find("--") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    without_comments.split(';').map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty()).collect()
}

/// What `migrate` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MigrationReport {
    pub applied: Vec<i32>,
    pub already: Vec<i32>,
}

/// Creates the keyspace (with the configured replication) and applies the missing migrations.
pub async fn migrate(db: &Db) -> StoreResult<MigrationReport> {
    migrate_to(db, i32::MAX).await
}

/// [`migrate`] up to version `target` only (a keyspace left at an older version, as an
/// engine of that version would have left it: what the upgrade test starts from).
pub async fn migrate_to(db: &Db, target: i32) -> StoreResult<MigrationReport> {
    let ks = &db.opts.keyspace;
    let create_ks = format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {}", db.opts.replication);
    db.session.query_unpaged(create_ks, ()).await.map_err(db_err)?;
    let mut report = MigrationReport::default();
    // The table of applied versions comes first so it can be read before anything else runs.
    let first = statements(MIGRATIONS[0].2);
    if let Some(table) = first.iter().find(|s| s.contains("schema_migrations")) {
        run(db, table).await?;
    }
    for (version, name, script) in MIGRATIONS.iter().filter(|(v, _, _)| *v <= target) {
        let done: Option<(i32,)> = db.one("SELECT version FROM {ks}.schema_migrations WHERE version = ?", (*version,)).await?;
        if done.is_some() {
            report.already.push(*version);
            continue;
        }
        for stmt in statements(script) {
            if stmt.starts_with("CREATE KEYSPACE") {
                continue;
            }
            run(db, &stmt).await?;
        }
        db.exec("INSERT INTO {ks}.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", (*version, name.to_string(), crate::domain::now_ms()))
            .await?;
        tracing::info!(keyspace = %ks, version, name, "schema migration applied");
        report.applied.push(*version);
    }
    if !report.applied.is_empty() {
        // Every node must know the new tables before statements against them are prepared.
        // A single-node test server without peer tables cannot answer this: logged, not fatal.
        if let Err(e) = db.session.await_schema_agreement().await {
            tracing::warn!(error = %e, "schema agreement not confirmed after the migration");
        }
    }
    Ok(report)
}

async fn run(db: &Db, stmt: &str) -> StoreResult<()> {
    let cql = stmt.replace("jood.", &format!("{}.", db.opts.keyspace));
    db.session.query_unpaged(cql, ()).await.map_err(db_err)?;
    Ok(())
}

fn db_err<E: std::fmt::Display>(e: E) -> crate::store::StoreError {
    db(e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_splits_into_create_statements() {
        let s = super::statements(super::MIGRATIONS[0].2);
        assert!(s.len() > 30, "{}", s.len());
        for (_, _, script) in super::MIGRATIONS {
            let s = super::statements(script);
            assert!(s.iter().all(|q| q.starts_with("CREATE ") && q.contains("IF NOT EXISTS")), "{s:?}");
            assert!(s.iter().all(|q| !q.contains("--")));
            assert!(!s.iter().any(|q| q.contains("counter")), "no counter columns");
        }
    }

    #[test]
    fn versions_ascend_and_no_table_is_created_twice() {
        let versions: Vec<i32> = super::MIGRATIONS.iter().map(|(v, _, _)| *v).collect();
        assert_eq!(versions, (1..=versions.len() as i32).collect::<Vec<_>>());
        let mut tables = std::collections::HashSet::new();
        for (_, _, script) in super::MIGRATIONS {
            for q in super::statements(script).iter().filter(|q| q.starts_with("CREATE TABLE")) {
                let name = q.split_whitespace().nth(5).unwrap_or_default().to_string();
                assert!(tables.insert(name.clone()), "{name} is created by two migrations");
            }
        }
        assert!(tables.contains("jood.whatsapp_history") && tables.contains("jood.links_by_message"));
    }
}
