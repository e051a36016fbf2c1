//! The WhatsApp tables of the embedded backend: templates by (association, id) with an
//! owner row by id, and customer-service windows by (association, recipient).

use super::codec::{decode, encode, i64_from_key, i64_key, pair_key};
use super::committer::{Guard, Mutation};
use super::{io, EmbeddedStore};
use crate::store::whatsapp::{WaInboundRecord, WaTemplateRecord, WhatsAppStore};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use fjall::{Database, Keyspace, KeyspaceCreateOptions};

pub(super) struct WaTables {
    templates: Keyspace,
    template_owner: Keyspace,
    windows: Keyspace,
    inbound: Keyspace,
    /// WhatsApp message history indexes (see `wa_messages.rs`).
    pub(super) messages: Keyspace,
    pub(super) messages_by_recipient: Keyspace,
}

impl WaTables {
    pub(super) fn open(db: &Database, memtable_bytes: u64) -> StoreResult<Self> {
        let ks = |name: &str| {
            db.keyspace(name, || KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes))
                .map_err(|e| StoreError::Io(format!("open table {name}: {e}")))
        };
        Ok(Self { templates: ks("whatsapp_templates")?, template_owner: ks("whatsapp_template_owner")?, windows: ks("whatsapp_windows")?, inbound: ks("whatsapp_inbound")?,
            messages: ks("whatsapp_messages")?,
            messages_by_recipient: ks("whatsapp_messages_by_recipient")?,
        })
    }
}

fn window_key(association_id: i64, recipient: &str) -> Vec<u8> {
    let mut k = i64_key(association_id).to_vec();
    k.extend_from_slice(recipient.as_bytes());
    k
}

#[async_trait]
impl WhatsAppStore for EmbeddedStore {
    async fn put_wa_template(&self, rec: &WaTemplateRecord) -> StoreResult<()> {
        let t = self.t()?;
        let expected = rec.version;
        let rec = WaTemplateRecord { version: expected.saturating_add(1), ..rec.clone() };
        // Decided on the committer thread against the row as it is (see management.rs).
        let guard: Guard = Box::new(move |view| {
            let key = pair_key(rec.association_id, rec.id).to_vec();
            let label = format!("WhatsApp template {}", rec.id);
            match (view.get(&t.whatsapp.templates, &key)?, expected) {
                (None, 0) => {}
                (Some(_), 0) => return Err(StoreError::Conflict(label)),
                (None, _) => return Err(StoreError::VersionMismatch(label)),
                (Some(bytes), v) => {
                    let current: WaTemplateRecord = decode("whatsapp_templates", &bytes)?;
                    if current.version != v {
                        return Err(StoreError::VersionMismatch(label));
                    }
                }
            }
            let owner = Mutation::Put { ks: t.whatsapp.template_owner.clone(), key: i64_key(rec.id).to_vec(), value: i64_key(rec.association_id).to_vec() };
            Ok(vec![Mutation::Put { ks: t.whatsapp.templates.clone(), key, value: encode(&rec) }, owner])
        });
        self.committer.write_guarded(guard).await
    }

    async fn get_wa_template(&self, id: i64) -> StoreResult<Option<WaTemplateRecord>> {
        let t = self.t()?;
        let Some(owner) = t.whatsapp.template_owner.get(i64_key(id)).map_err(io)? else { return Ok(None) };
        let assoc = i64_from_key(&owner).unwrap_or_default();
        Self::get_row(&t.whatsapp.templates, "whatsapp_templates", &pair_key(assoc, id))
    }

    async fn list_wa_templates(&self, association_id: i64) -> StoreResult<Vec<WaTemplateRecord>> {
        let t = self.t()?;
        let prefix = i64_key(association_id);
        Self::scan(&t.whatsapp.templates, "whatsapp_templates", prefix.to_vec(), &prefix, usize::MAX)
    }

    async fn delete_wa_template(&self, association_id: i64, id: i64) -> StoreResult<bool> {
        let t = self.t()?;
        let existed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = existed.clone();
        let guard: Guard = Box::new(move |view| {
            let key = pair_key(association_id, id).to_vec();
            if view.get(&t.whatsapp.templates, &key)?.is_none() {
                return Ok(Vec::new());
            }
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            let owner = Mutation::Delete { ks: t.whatsapp.template_owner.clone(), key: i64_key(id).to_vec() };
            Ok(vec![Mutation::Delete { ks: t.whatsapp.templates.clone(), key }, owner])
        });
        self.committer.write_guarded(guard).await?;
        Ok(existed.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn touch_wa_window(&self, association_id: i64, recipient: &str, at: i64) -> StoreResult<()> {
        let t = self.t()?;
        let m = Mutation::Put { ks: t.whatsapp.windows.clone(), key: window_key(association_id, recipient), value: at.to_le_bytes().to_vec() };
        self.committer.write(vec![m], vec![]).await
    }

    async fn put_wa_inbound(&self, rec: &WaInboundRecord) -> StoreResult<()> {
        let t = self.t()?;
        // Newest first within the association: (association, MAX - at, wamid).
        let mut key = pair_key(rec.association_id, i64::MAX - rec.at).to_vec();
        key.extend_from_slice(rec.wamid.as_bytes());
        self.committer.write(vec![Self::put(&t.whatsapp.inbound, key, rec)], vec![]).await
    }

    async fn list_wa_inbound(&self, association_id: i64, limit: usize) -> StoreResult<Vec<WaInboundRecord>> {
        let t = self.t()?;
        let prefix = i64_key(association_id);
        Self::scan(&t.whatsapp.inbound, "whatsapp_inbound", prefix.to_vec(), &prefix, limit)
    }

    async fn wa_window(&self, association_id: i64, recipient: &str) -> StoreResult<Option<i64>> {
        let t = self.t()?;
        let Some(v) = t.whatsapp.windows.get(window_key(association_id, recipient)).map_err(io)? else { return Ok(None) };
        let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt { table: "whatsapp_windows", detail: "not an i64".into() })?;
        Ok(Some(i64::from_le_bytes(bytes)))
    }

    async fn list_wa_messages(&self, q: &crate::store::whatsapp_messages::WaMessageQuery) -> StoreResult<crate::store::whatsapp_messages::WaMessagePage> {
        self.list_wa_messages_rows(q).await
    }
}

