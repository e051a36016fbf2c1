//! Management writes of the embedded backend (associations and their key index, credentials,
//! allocations, templates, operators): every one is compare-and-set on the row's `version`.
//!
//! Each write is a [`Guard`] run on the committer thread: it reads the row it replaces (seeing
//! earlier writes of its commit group), checks the version the caller read, and only then
//! decides its mutations, so no other write can land between the check and the write. This is
//! what ScyllaDB's `IF version = ?` does for the ScyllaDB backend. Depends on the committer,
//! the codec and the key layouts of this backend.

use super::codec::{decode, encode, i64_key, pair_key};
use super::committer::{GuardView, Guard, Mutation};
use super::keys::template_key;
use super::{EmbeddedStore, Tables};
use crate::store::*;
use fjall::Keyspace;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The one column every management row shares, read without decoding the rest.
#[derive(serde::Deserialize)]
struct VersionOnly {
    #[serde(default)]
    version: u64,
}

/// Checks `expect` against the row at `key`; returns the row's bytes when it exists.
fn check(view: &GuardView<'_>, ks: &Keyspace, table: &'static str, key: &[u8], expect: Expect, label: &str) -> StoreResult<Option<Vec<u8>>> {
    let current = view.get(ks, key)?;
    match (expect, &current) {
        (Expect::Absent, None) => Ok(None),
        (Expect::Absent, Some(_)) => Err(StoreError::Conflict(label.to_string())),
        (Expect::Version(_), None) => Err(StoreError::VersionMismatch(label.to_string())),
        (Expect::Version(v), Some(bytes)) => {
            let got: VersionOnly = decode(table, bytes)?;
            if got.version == v {
                Ok(current)
            } else {
                Err(StoreError::VersionMismatch(label.to_string()))
            }
        }
    }
}

fn put_row(ks: &Keyspace, key: Vec<u8>, value: Vec<u8>) -> Mutation {
    Mutation::Put { ks: ks.clone(), key, value }
}

impl EmbeddedStore {
    /// A guard that deletes `key` (and `also`) if it is still at `expected`; `Ok(false)` when absent.
    async fn cas_delete(&self, ks: Keyspace, table: &'static str, key: Vec<u8>, expected: u64, label: String, also: Vec<Mutation>) -> StoreResult<bool> {
        let existed = Arc::new(AtomicBool::new(false));
        let flag = existed.clone();
        let guard: Guard = Box::new(move |view| {
            if view.get(&ks, &key)?.is_none() {
                return Ok(Vec::new());
            }
            check(view, &ks, table, &key, Expect::Version(expected), &label)?;
            flag.store(true, Ordering::Relaxed);
            let mut muts = vec![Mutation::Delete { ks, key }];
            muts.extend(also);
            Ok(muts)
        });
        self.committer.write_guarded(guard).await?;
        Ok(existed.load(Ordering::Relaxed))
    }

    pub(super) async fn cas_update_association(&self, rec: &AssociationRecord, expected: u64) -> StoreResult<()> {
        let t: Arc<Tables> = self.t()?;
        let rec = AssociationRecord { version: expected.saturating_add(1), ..rec.clone() };
        let guard: Guard = Box::new(move |view| {
            let key = i64_key(rec.id).to_vec();
            let label = format!("association {}", rec.id);
            let old_bytes = check(view, &t.associations, "associations", &key, Expect::Version(expected), &label)?.unwrap_or_default();
            let old: AssociationRecord = decode("associations", &old_bytes)?;
            let mut muts = Vec::new();
            // The key index follows the row actually replaced: exactly the current keys.
            for (old_hash, new_hash, kind) in
                [(&old.api_key_hash, &rec.api_key_hash, KeyKind::Public), (&old.admin_key_hash, &rec.admin_key_hash, KeyKind::Admin)]
            {
                if old_hash != new_hash {
                    muts.push(Mutation::Delete { ks: t.association_keys.clone(), key: old_hash.clone() });
                    let entry = KeyIndexEntry { key_hash: new_hash.clone(), association_id: rec.id, kind };
                    muts.push(put_row(&t.association_keys, new_hash.clone(), encode(&entry)));
                }
            }
            muts.push(put_row(&t.associations, key, encode(&rec)));
            Ok(muts)
        });
        self.committer.write_guarded(guard).await
    }

    pub(super) async fn cas_put_credentials(&self, recs: &[(CredentialRecord, Expect)]) -> StoreResult<()> {
        let t = self.t()?;
        let recs: Vec<(CredentialRecord, Expect)> =
            recs.iter().map(|(r, e)| (CredentialRecord { version: e.next_version(), ..r.clone() }, *e)).collect();
        let guard: Guard = Box::new(move |view| {
            let mut muts = Vec::with_capacity(recs.len());
            for (rec, expect) in &recs {
                let key = pair_key(rec.association_id, rec.id).to_vec();
                check(view, &t.credentials, "credentials", &key, *expect, &format!("credential {}", rec.id))?;
                muts.push(put_row(&t.credentials, key, encode(rec)));
                // Which association a credential id belongs to (callback URLs name only the id).
                muts.push(put_row(&t.credential_owner, i64_key(rec.id).to_vec(), i64_key(rec.association_id).to_vec()));
            }
            Ok(muts)
        });
        self.committer.write_guarded(guard).await
    }

    pub(super) async fn cas_delete_credential(&self, association_id: i64, id: i64, expected: u64) -> StoreResult<bool> {
        let t = self.t()?;
        let key = pair_key(association_id, id).to_vec();
        let owner = Mutation::Delete { ks: t.credential_owner.clone(), key: i64_key(id).to_vec() };
        self.cas_delete(t.credentials.clone(), "credentials", key, expected, format!("credential {id}"), vec![owner]).await
    }

    pub(super) async fn cas_put_allocation(&self, rec: &AllocationRecord, expect: Expect) -> StoreResult<()> {
        let t = self.t()?;
        let rec = AllocationRecord { version: expect.next_version(), ..rec.clone() };
        let guard: Guard = Box::new(move |view| {
            let key = pair_key(rec.association_id, rec.id).to_vec();
            check(view, &t.allocations, "allocations", &key, expect, &format!("allocation {}", rec.id))?;
            let owner = put_row(&t.allocation_owner, i64_key(rec.id).to_vec(), i64_key(rec.association_id).to_vec());
            Ok(vec![put_row(&t.allocations, key, encode(&rec)), owner])
        });
        self.committer.write_guarded(guard).await
    }

    pub(super) async fn cas_delete_allocation(&self, association_id: i64, id: i64, expected: u64) -> StoreResult<bool> {
        let t = self.t()?;
        let owner = Mutation::Delete { ks: t.allocation_owner.clone(), key: i64_key(id).to_vec() };
        let key = pair_key(association_id, id).to_vec();
        self.cas_delete(t.allocations.clone(), "allocations", key, expected, format!("allocation {id}"), vec![owner]).await
    }

    pub(super) async fn cas_put_template(&self, rec: &TemplateRecord, expect: Expect) -> StoreResult<()> {
        let t = self.t()?;
        let rec = TemplateRecord { version: expect.next_version(), ..rec.clone() };
        let guard: Guard = Box::new(move |view| {
            let key = template_key(rec.association_id, &rec.code);
            check(view, &t.templates, "templates", &key, expect, &format!("template `{}`", rec.code))?;
            Ok(vec![put_row(&t.templates, key, encode(&rec))])
        });
        self.committer.write_guarded(guard).await
    }

    pub(super) async fn cas_delete_template(&self, association_id: i64, code: &str, expected: u64) -> StoreResult<bool> {
        let t = self.t()?;
        let key = template_key(association_id, code);
        self.cas_delete(t.templates.clone(), "templates", key, expected, format!("template `{code}`"), vec![]).await
    }

    pub(super) async fn cas_put_operator(&self, rec: &OperatorRecord, expect: Expect) -> StoreResult<()> {
        let t = self.t()?;
        let rec = OperatorRecord { version: expect.next_version(), ..rec.clone() };
        let guard: Guard = Box::new(move |view| {
            let key = rec.username.as_bytes().to_vec();
            check(view, &t.operators, "operators", &key, expect, &format!("operator `{}`", rec.username))?;
            Ok(vec![put_row(&t.operators, key, encode(&rec))])
        });
        self.committer.write_guarded(guard).await
    }

    pub(super) async fn cas_delete_operator(&self, username: &str, expected: u64) -> StoreResult<bool> {
        let t = self.t()?;
        let key = username.as_bytes().to_vec();
        self.cas_delete(t.operators.clone(), "operators", key, expected, format!("operator `{username}`"), vec![]).await
    }
}
