//! Management rows of the ScyllaDB backend (associations and their key index, credentials,
//! allocations, templates, operators, sessions): every write is compare-and-set on the row's
//! `version`. With `store.scylla.lwt` (the default) the cluster decides, through lightweight
//! transactions: `INSERT … IF NOT EXISTS`, `UPDATE … IF version = ?`, `DELETE … IF version = ?`,
//! and one conditional batch for several credentials of one association. Without it (servers
//! that ignore `IF`), the same checks run in this process under a striped lock.

use super::session::{decode, encode, hash_str};
use super::ScyllaStore;
use crate::store::*;
use ::scylla::statement::batch::{Batch, BatchType};
use ::scylla::value::CqlValue;

/// The statements of one table whose rows carry `version` and `data`.
pub(super) struct Versioned {
    pub table: &'static str,
    pub read: &'static str,
    pub insert_lwt: &'static str,
    pub update_lwt: &'static str,
    pub upsert: &'static str,
    pub delete_lwt: &'static str,
    pub delete: &'static str,
}

pub(super) const ASSOCIATIONS: Versioned = Versioned {
    table: "associations",
    read: "SELECT version, data, id FROM {ks}.associations WHERE bucket = ? AND id = ?",
    insert_lwt: "INSERT INTO {ks}.associations (bucket, id, version, data) VALUES (?, ?, ?, ?) IF NOT EXISTS",
    update_lwt: "UPDATE {ks}.associations SET version = ?, data = ? WHERE bucket = ? AND id = ? IF version = ?",
    upsert: "INSERT INTO {ks}.associations (bucket, id, version, data) VALUES (?, ?, ?, ?)",
    delete_lwt: "DELETE FROM {ks}.associations WHERE bucket = ? AND id = ? IF version = ?",
    delete: "DELETE FROM {ks}.associations WHERE bucket = ? AND id = ?",
};

pub(super) const CREDENTIALS: Versioned = Versioned {
    table: "credentials",
    read: "SELECT version, data, id FROM {ks}.credentials WHERE association_id = ? AND id = ?",
    insert_lwt: "INSERT INTO {ks}.credentials (association_id, id, version, data) VALUES (?, ?, ?, ?) IF NOT EXISTS",
    update_lwt: "UPDATE {ks}.credentials SET version = ?, data = ? WHERE association_id = ? AND id = ? IF version = ?",
    upsert: "INSERT INTO {ks}.credentials (association_id, id, version, data) VALUES (?, ?, ?, ?)",
    delete_lwt: "DELETE FROM {ks}.credentials WHERE association_id = ? AND id = ? IF version = ?",
    delete: "DELETE FROM {ks}.credentials WHERE association_id = ? AND id = ?",
};

pub(super) const ALLOCATIONS: Versioned = Versioned {
    table: "allocations",
    read: "SELECT version, data, id FROM {ks}.allocations WHERE association_id = ? AND id = ?",
    insert_lwt: "INSERT INTO {ks}.allocations (association_id, id, version, data) VALUES (?, ?, ?, ?) IF NOT EXISTS",
    update_lwt: "UPDATE {ks}.allocations SET version = ?, data = ? WHERE association_id = ? AND id = ? IF version = ?",
    upsert: "INSERT INTO {ks}.allocations (association_id, id, version, data) VALUES (?, ?, ?, ?)",
    delete_lwt: "DELETE FROM {ks}.allocations WHERE association_id = ? AND id = ? IF version = ?",
    delete: "DELETE FROM {ks}.allocations WHERE association_id = ? AND id = ?",
};

pub(super) const TEMPLATES: Versioned = Versioned {
    table: "templates",
    read: "SELECT version, data, code FROM {ks}.templates WHERE association_id = ? AND code = ?",
    insert_lwt: "INSERT INTO {ks}.templates (association_id, code, version, data) VALUES (?, ?, ?, ?) IF NOT EXISTS",
    update_lwt: "UPDATE {ks}.templates SET version = ?, data = ? WHERE association_id = ? AND code = ? IF version = ?",
    upsert: "INSERT INTO {ks}.templates (association_id, code, version, data) VALUES (?, ?, ?, ?)",
    delete_lwt: "DELETE FROM {ks}.templates WHERE association_id = ? AND code = ? IF version = ?",
    delete: "DELETE FROM {ks}.templates WHERE association_id = ? AND code = ?",
};

pub(super) const OPERATORS: Versioned = Versioned {
    table: "operators",
    read: "SELECT version, data, username FROM {ks}.operators WHERE username = ?",
    insert_lwt: "INSERT INTO {ks}.operators (username, version, data) VALUES (?, ?, ?) IF NOT EXISTS",
    update_lwt: "UPDATE {ks}.operators SET version = ?, data = ? WHERE username = ? IF version = ?",
    upsert: "INSERT INTO {ks}.operators (username, version, data) VALUES (?, ?, ?)",
    delete_lwt: "DELETE FROM {ks}.operators WHERE username = ? IF version = ?",
    delete: "DELETE FROM {ks}.operators WHERE username = ?",
};

/// The key of an association row (all associations share partition 0).
pub(super) fn association_key(id: i64) -> [CqlValue; 2] {
    [CqlValue::Int(0), big(id)]
}

pub(super) fn big(v: i64) -> CqlValue {
    CqlValue::BigInt(v)
}

pub(super) fn text(s: &str) -> CqlValue {
    CqlValue::Text(s.to_string())
}

fn cat(a: &[CqlValue], b: &[CqlValue]) -> Vec<CqlValue> {
    a.iter().chain(b).cloned().collect()
}

fn key_hash(key: &[CqlValue]) -> u64 {
    hash_str(&format!("{key:?}"))
}

impl ScyllaStore {
    /// The stored version and data of a row.
    pub(super) async fn versioned_read(&self, t: &Versioned, key: &[CqlValue]) -> StoreResult<Option<(u64, Vec<u8>)>> {
        // The row's own last key column is read back and compared: a read by the whole key
        // must never answer with a neighbouring row (the in-memory test server treats an
        // equality on a clustering column as "from here on").
        let row: Option<(Option<i64>, Option<Vec<u8>>, Option<CqlValue>)> = self.db.one(t.read, key.to_vec()).await?;
        Ok(row.filter(|(_, _, k)| k.as_ref() == key.last()).map(|(v, d, _)| (v.unwrap_or(0).max(0) as u64, d.unwrap_or_default())))
    }

    pub(super) async fn versioned_get<T: serde::de::DeserializeOwned>(&self, t: &Versioned, key: &[CqlValue]) -> StoreResult<Option<T>> {
        match self.versioned_read(t, key).await? {
            Some((_, data)) => decode(t.table, &data).map(Some),
            None => Ok(None),
        }
    }

    /// Writes `data` at `next` if the row is as `expect` says; the error names `label`.
    pub(super) async fn cas_put(&self, t: &Versioned, key: &[CqlValue], expect: Expect, next: u64, data: Vec<u8>, label: &str) -> StoreResult<()> {
        let (next, blob) = (big(next as i64), CqlValue::Blob(data));
        if self.db.opts.lwt {
            let applied = match expect {
                Expect::Absent => self.db.lwt(t.insert_lwt, cat(key, &[next, blob])).await?,
                Expect::Version(v) => self.db.lwt(t.update_lwt, cat(&[next, blob], &cat(key, &[big(v as i64)]))).await?,
            };
            return match (applied, expect) {
                (true, _) => Ok(()),
                (false, Expect::Absent) => Err(StoreError::Conflict(label.to_string())),
                (false, Expect::Version(_)) => Err(StoreError::VersionMismatch(label.to_string())),
            };
        }
        let _g = self.row_locks.lock(key_hash(key)).await;
        let current = self.versioned_read(t, key).await?.map(|(v, _)| v);
        check(current, expect, label)?;
        self.db.exec(t.upsert, cat(key, &[next, blob])).await
    }

    /// Deletes the row if it is still at `expected`: `Ok(false)` when it is absent.
    pub(super) async fn cas_delete(&self, t: &Versioned, key: &[CqlValue], expected: u64, label: &str) -> StoreResult<bool> {
        if self.db.opts.lwt {
            if self.db.lwt(t.delete_lwt, cat(key, &[big(expected as i64)])).await? {
                return Ok(true);
            }
            return match self.versioned_read(t, key).await? {
                None => Ok(false),
                Some(_) => Err(StoreError::VersionMismatch(label.to_string())),
            };
        }
        let _g = self.row_locks.lock(key_hash(key)).await;
        match self.versioned_read(t, key).await? {
            None => Ok(false),
            Some((v, _)) if v != expected => Err(StoreError::VersionMismatch(label.to_string())),
            Some(_) => self.db.exec(t.delete, key.to_vec()).await.map(|()| true),
        }
    }

    pub(super) async fn create_association_rows(&self, rec: &AssociationRecord, keys: &[KeyIndexEntry]) -> StoreResult<()> {
        let label = format!("association {}", rec.id);
        self.cas_put(&ASSOCIATIONS, &association_key(rec.id), Expect::Absent, rec.version, encode(rec), &label).await?;
        let mut w = super::session::Writes::default();
        for k in keys {
            w.add(&self.db, KEY_PUT, (k.key_hash.clone(), k.association_id, kind_str(k.kind))).await?;
        }
        self.db.batch(w).await
    }

    pub(super) async fn update_association_rows(&self, rec: &AssociationRecord, expected: u64) -> StoreResult<()> {
        let label = format!("association {}", rec.id);
        let key = association_key(rec.id);
        // The row being replaced, read first: its key hashes leave the index once the write
        // at `expected` has won (versions are never reused, so it is the row replaced).
        let Some((version, data)) = self.versioned_read(&ASSOCIATIONS, &key).await? else {
            return Err(StoreError::VersionMismatch(label));
        };
        if version != expected {
            return Err(StoreError::VersionMismatch(label));
        }
        let old: AssociationRecord = decode("associations", &data)?;
        let rec = AssociationRecord { version: expected.saturating_add(1), ..rec.clone() };
        self.cas_put(&ASSOCIATIONS, &key, Expect::Version(expected), rec.version, encode(&rec), &label).await?;
        let mut w = super::session::Writes::default();
        for (old_hash, new_hash, kind) in [(&old.api_key_hash, &rec.api_key_hash, KeyKind::Public), (&old.admin_key_hash, &rec.admin_key_hash, KeyKind::Admin)] {
            if old_hash != new_hash {
                w.add(&self.db, "DELETE FROM {ks}.association_keys WHERE key_hash = ?", (old_hash.clone(),)).await?;
                w.add(&self.db, KEY_PUT, (new_hash.clone(), rec.id, kind_str(kind))).await?;
            }
        }
        self.db.batch(w).await
    }

    pub(super) async fn lookup_key_row(&self, key_hash: &[u8]) -> StoreResult<Option<KeyIndexEntry>> {
        let row: Option<(Option<i64>, Option<String>)> =
            self.db.one("SELECT association_id, kind FROM {ks}.association_keys WHERE key_hash = ?", (key_hash.to_vec(),)).await?;
        Ok(row.map(|(a, k)| KeyIndexEntry {
            key_hash: key_hash.to_vec(),
            association_id: a.unwrap_or_default(),
            kind: if k.as_deref() == Some("Admin") { KeyKind::Admin } else { KeyKind::Public },
        }))
    }

    /// Credentials, all or nothing: without LWT every expectation is checked under one lock
    /// first; with LWT one conditional batch per association (ScyllaDB's conditional batches
    /// are single-partition, so a write spanning associations is all or nothing per association;
    /// the engine only ever writes one association's credentials at once).
    pub(super) async fn put_credential_rows(&self, recs: &[(CredentialRecord, Expect)]) -> StoreResult<()> {
        let rows: Vec<(CredentialRecord, Expect)> = recs.iter().map(|(r, e)| (CredentialRecord { version: e.next_version(), ..r.clone() }, *e)).collect();
        if rows.is_empty() {
            return Ok(());
        }
        if self.db.opts.lwt {
            let mut assocs: Vec<i64> = Vec::new();
            for (r, _) in &rows {
                if !assocs.contains(&r.association_id) {
                    assocs.push(r.association_id);
                }
            }
            for a in assocs {
                let group: Vec<(CredentialRecord, Expect)> = rows.iter().filter(|(r, _)| r.association_id == a).cloned().collect();
                self.credential_lwt_batch(&group).await?;
            }
        } else {
            let _g = self.row_locks.lock(hash_str("credentials")).await;
            for (r, e) in &rows {
                let cur = self.versioned_read(&CREDENTIALS, &[big(r.association_id), big(r.id)]).await?.map(|(v, _)| v);
                check(cur, *e, &format!("credential {}", r.id))?;
            }
            let mut w = super::session::Writes::default();
            for (r, _) in &rows {
                w.add(&self.db, CREDENTIALS.upsert, (r.association_id, r.id, r.version as i64, encode(r))).await?;
            }
            self.db.batch(w).await?;
        }
        let mut w = super::session::Writes::default();
        for (r, _) in &rows {
            w.add(&self.db, "INSERT INTO {ks}.credential_owner (credential_id, association_id) VALUES (?, ?)", (r.id, r.association_id)).await?;
        }
        self.db.batch(w).await
    }

    /// One association's credentials as one conditional (LWT) batch.
    async fn credential_lwt_batch(&self, rows: &[(CredentialRecord, Expect)]) -> StoreResult<()> {
        let mut b = Batch::new(BatchType::Logged);
        let mut values: Vec<Vec<CqlValue>> = Vec::new();
        for (r, e) in rows {
            let (next, blob, key) = (big(r.version as i64), CqlValue::Blob(encode(r)), [big(r.association_id), big(r.id)]);
            match e {
                Expect::Absent => {
                    b.append_statement(self.db.stmt(CREDENTIALS.insert_lwt).await?);
                    values.push(cat(&key, &[next, blob]));
                }
                Expect::Version(v) => {
                    b.append_statement(self.db.stmt(CREDENTIALS.update_lwt).await?);
                    values.push(cat(&[next, blob], &cat(&key, &[big(*v as i64)])));
                }
            }
        }
        let p = self.db.stmt(CREDENTIALS.insert_lwt).await?;
        b.set_consistency(p.get_consistency().unwrap_or(::scylla::frame::types::Consistency::LocalQuorum));
        b.set_serial_consistency(p.get_serial_consistency());
        let res = self.db.session.batch(&b, values).await.map_err(super::session::db)?;
        let rows_res = res.into_rows_result().map_err(super::session::db)?;
        let first = rows_res.maybe_first_row::<::scylla::value::Row>().map_err(super::session::db)?;
        if matches!(first.and_then(|r| r.columns.into_iter().next().flatten()), Some(CqlValue::Boolean(true))) {
            return Ok(());
        }
        // Which expectation failed decides the error, as the embedded backend reports it.
        for (r, e) in rows {
            let cur = self.versioned_read(&CREDENTIALS, &[big(r.association_id), big(r.id)]).await?.map(|(v, _)| v);
            check(cur, *e, &format!("credential {}", r.id))?;
        }
        Err(StoreError::VersionMismatch(format!("credential {}", rows.iter().map(|(r, _)| r.id.to_string()).collect::<Vec<_>>().join(", "))))
    }

    pub(super) async fn delete_credential_row(&self, association_id: i64, id: i64, expected: u64) -> StoreResult<bool> {
        let key = [big(association_id), big(id)];
        let existed = if self.db.opts.lwt {
            self.cas_delete(&CREDENTIALS, &key, expected, &format!("credential {id}")).await?
        } else {
            // The lock of put_credentials: a delete never interleaves with a batch's checks.
            let _g = self.row_locks.lock(hash_str("credentials")).await;
            match self.versioned_read(&CREDENTIALS, &key).await? {
                None => false,
                Some((v, _)) if v != expected => return Err(StoreError::VersionMismatch(format!("credential {id}"))),
                Some(_) => {
                    self.db.exec(CREDENTIALS.delete, key.to_vec()).await?;
                    true
                }
            }
        };
        if existed {
            self.db.exec("DELETE FROM {ks}.credential_owner WHERE credential_id = ?", (id,)).await?;
        }
        Ok(existed)
    }

    pub(super) async fn put_allocation_row(&self, rec: &AllocationRecord, expect: Expect) -> StoreResult<()> {
        let rec = AllocationRecord { version: expect.next_version(), ..rec.clone() };
        let key = [big(rec.association_id), big(rec.id)];
        self.cas_put(&ALLOCATIONS, &key, expect, rec.version, encode(&rec), &format!("allocation {}", rec.id)).await?;
        self.db.exec("INSERT INTO {ks}.allocation_owner (id, association_id) VALUES (?, ?)", (rec.id, rec.association_id)).await
    }

    pub(super) async fn get_allocation_row(&self, id: i64) -> StoreResult<Option<AllocationRecord>> {
        let owner: Option<(Option<i64>,)> = self.db.one("SELECT association_id FROM {ks}.allocation_owner WHERE id = ?", (id,)).await?;
        match owner.and_then(|(a,)| a) {
            Some(a) => self.versioned_get(&ALLOCATIONS, &[big(a), big(id)]).await,
            None => Ok(None),
        }
    }

    pub(super) async fn delete_allocation_row(&self, association_id: i64, id: i64, expected: u64) -> StoreResult<bool> {
        let existed = self.cas_delete(&ALLOCATIONS, &[big(association_id), big(id)], expected, &format!("allocation {id}")).await?;
        if existed {
            self.db.exec("DELETE FROM {ks}.allocation_owner WHERE id = ?", (id,)).await?;
        }
        Ok(existed)
    }

    /// Every row of one partition of a versioned table, in clustering order (bounded).
    pub(super) async fn partition_rows<T: serde::de::DeserializeOwned>(&self, table: &'static str, cql: &'static str, key: i64) -> StoreResult<Vec<T>> {
        let rows: Vec<(Option<Vec<u8>>,)> = self.db.many(cql, (key,), 100_000).await?;
        rows.into_iter().map(|(d,)| decode(table, &d.unwrap_or_default())).collect()
    }
}

const KEY_PUT: &str = "INSERT INTO {ks}.association_keys (key_hash, association_id, kind) VALUES (?, ?, ?)";

fn kind_str(k: KeyKind) -> &'static str {
    match k {
        KeyKind::Public => "Public",
        KeyKind::Admin => "Admin",
    }
}

/// Whether a row at `current` (None: absent) is what `expect` asks for.
fn check(current: Option<u64>, expect: Expect, label: &str) -> StoreResult<()> {
    match (expect, current) {
        (Expect::Absent, None) => Ok(()),
        (Expect::Absent, Some(_)) => Err(StoreError::Conflict(label.to_string())),
        (Expect::Version(_), None) => Err(StoreError::VersionMismatch(label.to_string())),
        (Expect::Version(v), Some(c)) if v == c => Ok(()),
        (Expect::Version(_), Some(_)) => Err(StoreError::VersionMismatch(label.to_string())),
    }
}

