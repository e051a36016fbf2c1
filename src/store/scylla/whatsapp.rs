//! The WhatsApp tables on ScyllaDB: templates per association (and which association owns a
//! template id), customer-service windows, inbound messages newest first.

use super::session::{decode, encode, Writes};
use super::ScyllaStore;
use crate::store::whatsapp::{WaInboundRecord, WaTemplateRecord, WhatsAppStore};
use crate::store::StoreResult;
use async_trait::async_trait;

#[async_trait]
impl WhatsAppStore for ScyllaStore {
    async fn list_wa_messages(&self, q: &crate::store::whatsapp_messages::WaMessageQuery) -> StoreResult<crate::store::whatsapp_messages::WaMessagePage> {
        self.list_wa_history(q).await
    }

    async fn put_wa_template(&self, rec: &WaTemplateRecord) -> StoreResult<()> {
        let mut w = Writes::default();
        w.add(&self.db, "INSERT INTO {ks}.whatsapp_templates (association_id, id, data) VALUES (?, ?, ?)", (rec.association_id, rec.id, encode(rec))).await?;
        w.add(&self.db, "INSERT INTO {ks}.whatsapp_template_owner (id, association_id) VALUES (?, ?)", (rec.id, rec.association_id)).await?;
        self.db.batch(w).await
    }

    async fn get_wa_template(&self, id: i64) -> StoreResult<Option<WaTemplateRecord>> {
        let owner: Option<(Option<i64>,)> = self.db.one("SELECT association_id FROM {ks}.whatsapp_template_owner WHERE id = ?", (id,)).await?;
        let Some(assoc) = owner.and_then(|(a,)| a) else { return Ok(None) };
        // The id is read back: a read by the whole key never answers with a neighbour.
        let row: Option<(i64, Option<Vec<u8>>)> = self.db.one("SELECT id, data FROM {ks}.whatsapp_templates WHERE association_id = ? AND id = ?", (assoc, id)).await?;
        match row {
            Some((got, Some(d))) if got == id => decode("whatsapp_templates", &d).map(Some),
            _ => Ok(None),
        }
    }

    async fn list_wa_templates(&self, association_id: i64) -> StoreResult<Vec<WaTemplateRecord>> {
        self.partition_rows("whatsapp_templates", "SELECT data FROM {ks}.whatsapp_templates WHERE association_id = ?", association_id).await
    }

    async fn delete_wa_template(&self, association_id: i64, id: i64) -> StoreResult<bool> {
        let row: Option<(i64,)> = self.db.one("SELECT id FROM {ks}.whatsapp_templates WHERE association_id = ? AND id = ?", (association_id, id)).await?;
        if row.is_none_or(|(got,)| got != id) {
            return Ok(false);
        }
        let mut w = Writes::default();
        w.add(&self.db, "DELETE FROM {ks}.whatsapp_templates WHERE association_id = ? AND id = ?", (association_id, id)).await?;
        w.add(&self.db, "DELETE FROM {ks}.whatsapp_template_owner WHERE id = ?", (id,)).await?;
        self.db.batch(w).await.map(|()| true)
    }

    async fn touch_wa_window(&self, association_id: i64, recipient: &str, at: i64) -> StoreResult<()> {
        self.db
            .exec("INSERT INTO {ks}.whatsapp_windows (association_id, recipient, last_inbound_at) VALUES (?, ?, ?)", (association_id, recipient.to_string(), at))
            .await
    }

    async fn put_wa_inbound(&self, rec: &WaInboundRecord) -> StoreResult<()> {
        self.db
            .exec("INSERT INTO {ks}.whatsapp_inbound (association_id, at, wamid, data) VALUES (?, ?, ?, ?)", (rec.association_id, rec.at, rec.wamid.clone(), encode(rec)))
            .await
    }

    async fn list_wa_inbound(&self, association_id: i64, limit: usize) -> StoreResult<Vec<WaInboundRecord>> {
        let rows: Vec<(Option<Vec<u8>>,)> = self.db.many("SELECT data FROM {ks}.whatsapp_inbound WHERE association_id = ?", (association_id,), limit).await?;
        rows.into_iter().map(|(d,)| decode("whatsapp_inbound", &d.unwrap_or_default())).collect()
    }

    async fn wa_window(&self, association_id: i64, recipient: &str) -> StoreResult<Option<i64>> {
        let row: Option<(String, Option<i64>)> =
            self.db.one("SELECT recipient, last_inbound_at FROM {ks}.whatsapp_windows WHERE association_id = ? AND recipient = ?", (association_id, recipient.to_string())).await?;
        Ok(row.filter(|(got, _)| got == recipient).and_then(|(_, v)| v))
    }
}
