//! Several messages in one provider request, for the providers whose API takes a list
//! (`shared/providers/*.md`): Infobip `messages[]`, 4jawaly `messages[].numbers[]`, Unifonic
//! `SendBulk`, Yamamah's and mShastra's lists. An adapter opts in through
//! [`ProviderAdapter::batch`]; every other adapter keeps the default (not supported) and its
//! messages go one per request. Transport only, as for single sends: the credential actor
//! (`dispatch::batcher`) decides what to gather, and what each message's outcome means.

use super::{BuildError, OutboundMessage, ProviderAdapter, ProviderCredential, SendOutcome};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// How a provider answered a request carrying several messages.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// The answer concerns the request as a whole (429, 5xx, a timeout, authentication, an
    /// error that names no message): every message has this outcome.
    Request(SendOutcome),
    /// One outcome per message, in the order the messages were given.
    PerMessage(Vec<SendOutcome>),
}

/// A provider's multi-message wire format.
pub trait BatchAdapter: Send + Sync + 'static {
    /// The most messages one request may carry: the documented limit, or the official SDKs'
    /// where none is documented. `dispatch.batch` may lower it, never raise it.
    fn max_messages(&self) -> usize;

    /// Whether `next` may travel in the same request as `first`. Providers that take one text
    /// for a list of numbers need the same text and sender.
    fn compatible(&self, _first: &OutboundMessage, _next: &OutboundMessage) -> bool {
        true
    }

    /// The provider's real request for these messages (two or more, all SMS).
    fn build_batch(
        &self,
        client: &reqwest::Client,
        credential: &ProviderCredential,
        msgs: &[OutboundMessage],
    ) -> Result<reqwest::RequestBuilder, BuildError>;

    /// Classifies a complete answer to [`Self::build_batch`]. A per-message answer must give
    /// exactly one outcome per message; a message the answer does not mention is Ambiguous.
    fn classify_batch(&self, status: StatusCode, headers: &HeaderMap, body: &[u8], msgs: &[OutboundMessage]) -> BatchOutcome;
}

/// Same text and same sender: what a list-of-numbers API (Unifonic `SendBulk`, Yamamah) needs.
pub(super) fn same_text_and_sender(a: &OutboundMessage, b: &OutboundMessage) -> bool {
    a.sender == b.sender && a.payload == b.payload
}

/// Performs one multi-message call and classifies it, like [`super::send`] does for one.
/// Transport failures concern the whole request. One message, or an adapter without a batch
/// format, goes through the single path.
pub async fn send_batch(
    adapter: &dyn ProviderAdapter,
    client: &crate::net::HttpClient,
    cred: &ProviderCredential,
    msgs: &[OutboundMessage],
    timeout: Duration,
) -> (BatchOutcome, Duration) {
    let started = Instant::now();
    let batcher = match (adapter.batch(), msgs) {
        (Some(b), [_, _, ..]) => b,
        _ => {
            let mut outcomes = Vec::with_capacity(msgs.len());
            for m in msgs {
                outcomes.push(super::send(adapter, client, cred, m, timeout).await.0);
            }
            return (BatchOutcome::PerMessage(outcomes), started.elapsed());
        }
    };
    if let Some(m) = msgs.iter().find(|m| !adapter.channels().contains(&m.payload.channel())) {
        // The gatherer batches served channels only; never deliver one as another.
        let reason = BuildError::unsupported(adapter.kind(), m.payload.channel()).to_string();
        return (BatchOutcome::Request(SendOutcome::PermanentContent { reason }), started.elapsed());
    }
    let answer = match batcher.build_batch(client.reqwest(), cred, msgs).map_err(BuildError::into_outcome).and_then(super::http_request) {
        Ok(request) => client.call(request, timeout, super::MAX_ANSWER_BYTES).await,
        Err(outcome) => return (BatchOutcome::Request(outcome), started.elapsed()),
    };
    let outcome = match answer {
        Ok(answer) => match batcher.classify_batch(answer.status, &super::answer_headers(&answer), &answer.body, msgs) {
            BatchOutcome::PerMessage(v) if v.len() != msgs.len() => BatchOutcome::Request(SendOutcome::Ambiguous {
                reason: format!("{} answered {} statuses for {} messages", adapter.kind().code(), v.len(), msgs.len()),
            }),
            o => o,
        },
        Err(e) => BatchOutcome::Request(super::call_outcome(e)),
    };
    (outcome, started.elapsed())
}

/// The outcome of a message the provider's per-message answer leaves out: it may or may not
/// have been queued.
pub(super) fn not_in_answer(provider: &str) -> SendOutcome {
    SendOutcome::Ambiguous { reason: format!("{provider} answered without a status for this message") }
}
