//! The embedded backend's `Store` implementation: the reads and writes of the core tables
//! (associations, credentials, allocations, templates, campaigns, the schedule, messages,
//! counters, operators, sessions, meta), with the compare-and-set and status writes
//! delegated to `management.rs` and `status.rs`, and the redirect links to `links.rs`.
//! Kept apart from `mod.rs` (the tables, `open` and the row helpers) only for size.

use super::codec::{encode_compact_into, i64_from_key, i64_key, pair_key};
use super::committer::Mutation;
use super::keys::*;
use super::{after, io, EmbeddedStore, UNFINISHED_SHARDS};
use crate::store::*;
use fjall::Slice;
use std::sync::Arc;

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_association(&self, rec: &AssociationRecord, keys: &[KeyIndexEntry]) -> StoreResult<()> {
        let t = self.t()?;
        let key = i64_key(rec.id).to_vec();
        let mut muts = vec![Self::put(&t.associations, key.clone(), rec)];
        muts.extend(keys.iter().map(|k| Self::put(&t.association_keys, k.key_hash.clone(), k)));
        let absent = vec![(t.associations.clone(), key, format!("association {}", rec.id))];
        self.committer.write(muts, absent).await
    }

    async fn get_association(&self, id: i64) -> StoreResult<Option<AssociationRecord>> {
        let t = self.t()?;
        self.associations.get(&t.associations, "associations", &i64_key(id))
    }

    async fn list_associations(&self, after_id: Option<i64>, limit: usize) -> StoreResult<Vec<AssociationRecord>> {
        let t = self.t()?;
        let from = after_id.map(|a| after(&i64_key(a))).unwrap_or_default();
        Self::scan(&t.associations, "associations", from, &[], limit)
    }

    async fn update_association(&self, rec: &AssociationRecord, expected_version: u64) -> StoreResult<()> {
        self.cas_update_association(rec, expected_version).await
    }

    async fn lookup_key(&self, key_hash: &[u8]) -> StoreResult<Option<KeyIndexEntry>> {
        let t = self.t()?;
        Self::get_row(&t.association_keys, "association_keys", key_hash)
    }

    async fn put_credentials(&self, recs: &[(CredentialRecord, Expect)]) -> StoreResult<()> {
        self.cas_put_credentials(recs).await
    }

    async fn get_credential(&self, association_id: i64, id: i64) -> StoreResult<Option<CredentialRecord>> {
        let t = self.t()?;
        Self::get_row(&t.credentials, "credentials", &pair_key(association_id, id))
    }

    async fn credential_owner(&self, id: i64) -> StoreResult<Option<i64>> {
        let t = self.t()?;
        Ok(t.credential_owner.get(i64_key(id)).map_err(io)?.and_then(|v| i64_from_key(&v)))
    }

    async fn list_credentials(&self, association_id: i64) -> StoreResult<Vec<CredentialRecord>> {
        let t = self.t()?;
        let prefix = i64_key(association_id);
        Self::scan(&t.credentials, "credentials", prefix.to_vec(), &prefix, usize::MAX)
    }

    async fn delete_credential(&self, association_id: i64, id: i64, expected_version: u64) -> StoreResult<bool> {
        self.cas_delete_credential(association_id, id, expected_version).await
    }

    async fn put_allocation(&self, rec: &AllocationRecord, expect: Expect) -> StoreResult<()> {
        self.cas_put_allocation(rec, expect).await
    }

    async fn get_allocation(&self, id: i64) -> StoreResult<Option<AllocationRecord>> {
        let t = self.t()?;
        let Some(owner) = t.allocation_owner.get(i64_key(id)).map_err(io)? else { return Ok(None) };
        let assoc = i64_from_key(&owner).unwrap_or_default();
        Self::get_row(&t.allocations, "allocations", &pair_key(assoc, id))
    }

    async fn list_allocations(&self, association_id: i64) -> StoreResult<Vec<AllocationRecord>> {
        let t = self.t()?;
        let prefix = i64_key(association_id);
        Self::scan(&t.allocations, "allocations", prefix.to_vec(), &prefix, usize::MAX)
    }

    async fn delete_allocation(&self, association_id: i64, id: i64, expected_version: u64) -> StoreResult<bool> {
        self.cas_delete_allocation(association_id, id, expected_version).await
    }

    async fn put_template(&self, rec: &TemplateRecord, expect: Expect) -> StoreResult<()> {
        self.cas_put_template(rec, expect).await
    }

    async fn get_template(&self, association_id: i64, code: &str) -> StoreResult<Option<TemplateRecord>> {
        let t = self.t()?;
        Self::get_row(&t.templates, "templates", &template_key(association_id, code))
    }

    async fn list_templates(&self, association_id: i64) -> StoreResult<Vec<TemplateRecord>> {
        let t = self.t()?;
        let prefix = i64_key(association_id);
        Self::scan(&t.templates, "templates", prefix.to_vec(), &prefix, usize::MAX)
    }

    async fn delete_template(&self, association_id: i64, code: &str, expected_version: u64) -> StoreResult<bool> {
        self.cas_delete_template(association_id, code, expected_version).await
    }

    async fn put_campaign(&self, rec: &CampaignRecord) -> StoreResult<()> {
        let t = self.t()?;
        let id_key = i64_key(rec.id).to_vec();
        let mut muts = vec![
            Self::put(&t.campaigns, id_key.clone(), rec),
            Self::empty(&t.campaigns_by_association, newest_first_key(rec.association_id, rec.id)),
        ];
        muts.push(if rec.status.is_final() {
            Mutation::Delete { ks: t.active_campaigns.clone(), key: id_key }
        } else {
            Self::empty(&t.active_campaigns, id_key)
        });
        if let Some(at) = rec.scheduled_at {
            let key = schedule_key(ScheduleEntry { at, kind: ScheduledKind::Campaign, id: rec.id });
            muts.push(if rec.status == CampaignStatus::Scheduled {
                Self::empty(&t.schedule, key)
            } else {
                Mutation::Delete { ks: t.schedule.clone(), key }
            });
        }
        self.committer.write(muts, vec![]).await
    }

    async fn get_campaign(&self, id: i64) -> StoreResult<Option<CampaignRecord>> {
        let t = self.t()?;
        Self::get_row(&t.campaigns, "campaigns", &i64_key(id))
    }

    async fn list_campaigns(&self, association_id: i64, before: Option<i64>, limit: usize) -> StoreResult<Vec<CampaignRecord>> {
        let t = self.t()?;
        let prefix = i64_key(association_id);
        let from = match before {
            Some(b) => after(&newest_first_key(association_id, b)),
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for guard in t.campaigns_by_association.range(from..) {
            if out.len() >= limit {
                break;
            }
            let k = guard.key().map_err(io)?;
            if !k.starts_with(&prefix) {
                break;
            }
            let id = i64::MAX - i64_from_key(&k[8..]).unwrap_or_default();
            if let Some(c) = self.get_campaign(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn list_active_campaigns(&self) -> StoreResult<Vec<CampaignRecord>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for guard in t.active_campaigns.iter() {
            let k = guard.key().map_err(io)?;
            if let Some(c) = self.get_campaign(i64_from_key(&k).unwrap_or_default()).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn list_campaign_messages(&self, campaign_id: i64, after_id: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        let t = self.t()?;
        let prefix = i64_key(campaign_id);
        let from = match after_id {
            Some(a) => after(&pair_key(campaign_id, a)),
            None => prefix.to_vec(),
        };
        let mut out = Vec::with_capacity(limit.min(4096));
        for guard in t.campaign_messages.range(from..).take(limit) {
            let k = guard.key().map_err(io)?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.extend(i64_from_key(&k[8..]));
        }
        Ok(out)
    }

    async fn due_schedule(&self, until: i64, limit: usize) -> StoreResult<Vec<ScheduleEntry>> {
        let t = self.t()?;
        let end = i64_key(until.saturating_add(1));
        let mut out = Vec::new();
        for guard in t.schedule.range(..end.to_vec()).take(limit) {
            let k = guard.key().map_err(io)?;
            out.extend(schedule_entry(&k));
        }
        Ok(out)
    }

    async fn next_scheduled(&self) -> StoreResult<Option<i64>> {
        let t = self.t()?;
        match t.schedule.first_key_value() {
            Some(g) => Ok(schedule_entry(&g.key().map_err(io)?).map(|e| e.at)),
            None => Ok(None),
        }
    }

    async fn remove_schedule(&self, entry: ScheduleEntry) -> StoreResult<()> {
        let t = self.t()?;
        let m = Mutation::Delete { ks: t.schedule.clone(), key: schedule_key(entry) };
        self.committer.write(vec![m], vec![]).await
    }

    async fn insert_messages(&self, msgs: &[MessageRecord]) -> StoreResult<()> {
        self.insert_messages_with_links(msgs, &[]).await
    }

    async fn insert_messages_with_links(&self, msgs: &[MessageRecord], links: &[LinkRecord]) -> StoreResult<()> {
        let t = self.t()?;
        self.space.admit()?;
        // Rows straight in fjall's byte type, one vector per table: a campaign chunk is tens of
        // thousands of messages, and the committer thread only moves them into its batch.
        let mut rows = Vec::with_capacity(msgs.len());
        let mut by_association = Vec::with_capacity(msgs.len());
        let mut in_campaign = Vec::with_capacity(if msgs.iter().any(|m| m.campaign_id.is_some()) { msgs.len() } else { 0 });
        let mut muts = Vec::new();
        let mut accepted: Vec<((i64, i64), i64)> = Vec::new();
        let mut buf = Vec::with_capacity(256);
        for m in msgs {
            buf.clear();
            encode_compact_into(&mut buf, m);
            rows.push((Slice::from(i64_key(m.id)), Slice::new(&buf)));
            by_association.push((Slice::from(newest_first_key(m.association_id, m.id)), Slice::empty()));
            match m.campaign_id {
                Some(c) => in_campaign.push((Slice::from(pair_key(c, m.id)), Slice::empty())),
                None => Self::message_index_mutations(&t, m, &mut muts),
            }
            Self::wa_message_mutations(&t, None, m, &mut muts);
            let scope = (m.association_id, crate::store::stats::day_of(m.created_at));
            match accepted.iter_mut().find(|(s, _)| *s == scope) {
                Some((_, n)) => *n += 1,
                None => accepted.push((scope, 1)),
            }
        }
        muts.push(Mutation::PutRows { ks: t.messages.clone(), rows });
        muts.push(Mutation::PutRows { ks: t.messages_by_association.clone(), rows: by_association });
        if !in_campaign.is_empty() {
            muts.push(Mutation::PutRows { ks: t.campaign_messages.clone(), rows: in_campaign });
        }
        let deltas: Vec<CounterDelta> = accepted
            .into_iter()
            .flat_map(|((assoc, day), n)| crate::store::stats::scopes(assoc, day).map(move |scope| CounterDelta { scope, name: "accepted".into(), delta: n }))
            .collect();
        Self::counter_mutations(&t, &deltas, &mut muts);
        // Tracked links (`shortenLinks`) in the same commit: a message is never stored with a
        // code that does not resolve, nor a code without its message.
        let absent = Self::tracked_link_mutations(&t.links, links, &mut muts);
        self.committer.write(muts, absent).await
    }

    async fn get_message(&self, id: i64) -> StoreResult<Option<MessageRecord>> {
        let t = self.t()?;
        Self::get_row(&t.messages, "messages", &i64_key(id))
    }

    async fn update_messages(&self, updates: &[MessageUpdate]) -> StoreResult<()> {
        self.update_messages_decided(updates).await
    }

    async fn transition_message(&self, msg: &MessageRecord, from: MessageStatus) -> StoreResult<bool> {
        self.transition_decided(msg, from).await
    }

    async fn apply_status(&self, events: &[MessageEvent]) -> StoreResult<Vec<StatusOutcome>> {
        self.apply_status_decided(events).await
    }

    async fn find_by_provider_id(&self, provider: &str, provider_message_id: &str) -> StoreResult<Option<i64>> {
        self.find_by_provider_id_row(provider, provider_message_id)
    }

    async fn list_events(&self, message_id: i64) -> StoreResult<Vec<MessageEvent>> {
        self.list_events_rows(message_id)
    }

    fn set_status_observer(&self, observer: Arc<dyn StatusObserver>) {
        *self.observer.write() = Some(observer);
    }

    async fn list_attempts(&self, message_id: i64) -> StoreResult<Vec<AttemptRecord>> {
        let t = self.t()?;
        let prefix = i64_key(message_id);
        Self::scan(&t.attempts, "attempts", prefix.to_vec(), &prefix, 10_000)
    }

    async fn list_unfinished(&self, after_id: Option<i64>, limit: usize) -> StoreResult<Vec<i64>> {
        let t = self.t()?;
        // Merge the shards' partitions in id order (each is already sorted).
        let mut ids = Vec::new();
        for shard in 0..UNFINISHED_SHARDS {
            let prefix = i64_key(shard);
            let from = match after_id {
                Some(a) => after(&pair_key(shard, a)),
                None => prefix.to_vec(),
            };
            for guard in t.unfinished_messages.range(from..).take(limit) {
                let k = guard.key().map_err(io)?;
                if !k.starts_with(&prefix) {
                    break;
                }
                if let Some(id) = i64_from_key(&k[8..]) {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids)
    }

    async fn list_messages(&self, association_id: Option<i64>, before: Option<i64>, limit: usize) -> StoreResult<Vec<MessageRecord>> {
        self.list_messages_view(association_id, before, limit).await
    }

    async fn list_queue(&self, limit: usize) -> StoreResult<Vec<MessageRecord>> {
        self.list_queue_view(limit).await
    }

    async fn add_counters(&self, deltas: &[CounterDelta]) -> StoreResult<()> {
        let t = self.t()?;
        let mut muts = Vec::with_capacity(deltas.len());
        Self::counter_mutations(&t, deltas, &mut muts);
        self.committer.write(muts, vec![]).await
    }

    async fn get_counters(&self, scope: CounterScope) -> StoreResult<std::collections::BTreeMap<String, i64>> {
        let t = self.t()?;
        let prefix = pair_key(scope.association_id, scope.day);
        let mut out = std::collections::BTreeMap::new();
        for guard in t.stats.prefix(prefix) {
            let (k, v) = guard.into_inner().map_err(io)?;
            let name = String::from_utf8_lossy(&k[16..]).into_owned();
            let value = v.as_ref().try_into().map(i64::from_le_bytes).unwrap_or(0);
            out.insert(name, value);
        }
        Ok(out)
    }

    async fn put_operator(&self, rec: &OperatorRecord, expect: Expect) -> StoreResult<()> {
        self.cas_put_operator(rec, expect).await
    }

    async fn delete_operator(&self, username: &str, expected_version: u64) -> StoreResult<bool> {
        self.cas_delete_operator(username, expected_version).await
    }

    async fn get_operator(&self, username: &str) -> StoreResult<Option<OperatorRecord>> {
        let t = self.t()?;
        Self::get_row(&t.operators, "operators", username.as_bytes())
    }

    async fn put_session(&self, rec: &SessionRecord) -> StoreResult<()> {
        let t = self.t()?;
        self.committer.write(vec![Self::put(&t.sessions, rec.token_hash.clone(), rec)], vec![]).await
    }

    async fn get_session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        let t = self.t()?;
        Self::get_row(&t.sessions, "sessions", token_hash)
    }

    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        let t = self.t()?;
        self.committer.write(vec![Mutation::Delete { ks: t.sessions.clone(), key: token_hash.to_vec() }], vec![]).await
    }

    async fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let t = self.t()?;
        Ok(t.meta.get(key.as_bytes()).map_err(io)?.map(|v| v.to_vec()))
    }

    async fn put_meta(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        let t = self.t()?;
        let m = Mutation::Put { ks: t.meta.clone(), key: key.as_bytes().to_vec(), value: value.to_vec() };
        self.committer.write(vec![m], vec![]).await
    }

    async fn close(&self) -> StoreResult<()> {
        // Waits only for the queued writes to commit; called once, at shutdown.
        self.committer.close_blocking();
        self.tables.write().take();
        Ok(())
    }

    // Redirect links: `links.rs`.
    async fn create_link(&self, rec: &LinkRecord) -> StoreResult<()> { self.links_create(rec).await }
    async fn get_link(&self, id: i64) -> StoreResult<Option<LinkRecord>> { self.links_get(id).await }
    async fn get_link_by_code(&self, code: &str) -> StoreResult<Option<LinkRecord>> { self.links_get_by_code(code).await }
    async fn list_links(&self, association_id: i64, offset: usize, limit: usize) -> StoreResult<LinkPage> { self.links_list(association_id, offset, limit).await }
    async fn update_link(&self, rec: &LinkRecord) -> StoreResult<()> { self.links_update(rec).await }
    async fn delete_link(&self, id: i64) -> StoreResult<bool> { self.links_delete(id).await }
    async fn add_link_clicks(&self, clicks: &[LinkClicks]) -> StoreResult<()> { self.links_add_clicks(clicks).await }
    async fn list_message_links(&self, message_id: i64) -> StoreResult<Vec<LinkRecord>> { self.links_of_message(message_id).await }
    async fn campaign_clicks(&self, campaign_id: i64) -> StoreResult<CampaignClicks> { self.links_campaign_clicks(campaign_id).await }
}
