//! `SendBulk`: a campaign streamed in chunks. The first chunk's settings start a
//! [`BulkIngest`](crate::campaigns::BulkIngest); each chunk's recipients are checked and
//! written as it arrives (HTTP/2 flow control holds the client back meanwhile), so memory
//! holds one chunk and the de-duplication keys whatever the campaign's size. The answer comes
//! once the stream has ended and every recipient is durable.

use super::{convert, pb, GrpcApi};
use crate::api::http::protect::RouteClass;
use crate::api::http::ApiError;
use crate::campaigns::{BulkSettings, RecipientInput, Variables};
use std::borrow::Cow;
use tonic::{Request, Streaming};

impl RecipientInput for pb::BulkRecipient {
    fn read(&self) -> Result<(Cow<'_, str>, Variables<'_>), (String, String)> {
        let variables = if self.variables.is_empty() { Variables::None } else { Variables::Strings(&self.variables) };
        Ok((Cow::Borrowed(self.phone.as_str()), variables))
    }
}

pub async fn send_bulk(api: &GrpcApi, req: Request<Streaming<pb::SendBulkChunk>>) -> Result<pb::SendBulkResponse, ApiError> {
    let caller = api.admit_send(&req, RouteClass::Bulk).await?;
    let mut stream = req.into_inner();
    let first = next_chunk(&mut stream)
        .await?
        .ok_or_else(|| ApiError::invalid("the stream ended before its first chunk; the first chunk carries `settings`"))?;
    let s = first.settings.ok_or_else(|| ApiError::invalid("the first chunk must carry `settings`"))?;
    api.may_send(caller, s.association_id).await?;
    let settings = BulkSettings {
        association_id: s.association_id,
        channel: convert::channel(s.channel)?.into(),
        message: s.message,
        name: Some(s.name),
        scheduled_at: s.scheduled_at.map(convert::ms_of),
        data: s.data.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect(),
        send_rate: s.send_rate,
        priority: s.priority,
        credential_id: None,
        callback_url: None,
                validity_secs: None,
        smart_encoding: None,
        subject: None,
        shorten_links: None,
    };
    let campaigns = &api.state.campaigns;
    let mut ingest = campaigns.begin_bulk(settings, api.state.config.campaigns.max_recipients_per_stream, 0).await?;
    ingest.push(&first.recipients).await?;
    let mut chunks = 1u64;
    while let Some(chunk) = next_chunk(&mut stream).await? {
        chunks += 1;
        if chunk.settings.is_some() {
            return Err(ApiError::invalid(format!("chunk {chunks}: only the first chunk may carry `settings`")));
        }
        ingest.push(&chunk.recipients).await?;
    }
    let a = ingest.finish().await?;
    Ok(pb::SendBulkResponse {
        campaign_id: a.campaign.id,
        total_recipients: a.campaign.total_recipients,
        status: convert::campaign_status(a.campaign.status) as i32,
        invalid_count: a.invalid_count as u64,
        invalid: a
            .invalid
            .into_iter()
            .map(|i| pb::InvalidRecipient { index: i.index as u64, recipient: i.recipient, reason: i.reason })
            .collect(),
        duplicates_removed: a.duplicates_removed as u64,
        segments: a.campaign.segments,
    })
}

/// The next chunk; a broken or malformed stream is the client's problem, reported as such.
async fn next_chunk(stream: &mut Streaming<pb::SendBulkChunk>) -> Result<Option<pb::SendBulkChunk>, ApiError> {
    stream.message().await.map_err(|s| ApiError::invalid(format!("could not read the stream: {}", s.message())))
}
