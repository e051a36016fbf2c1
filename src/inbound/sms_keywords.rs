//! Opt-out keywords in inbound messages: a customer's message that is exactly STOP (or
//! STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT, إيقاف, إلغاء, …) puts the sender
//! on the association's opt-out list for that channel; START / UNSTOP (ابدأ, اشتراك) takes
//! it off. Called by the receivers of providers that deliver inbound messages: Meta's
//! WhatsApp webhook, and Twilio's incoming-message webhook (the same form POST and
//! `X-Twilio-Signature` as its status callbacks, `SmsStatus=received`), pointed at
//! `/api/v1/callbacks/twilio/{credentialId}`. Other SMS providers here document no inbound
//! webhook (`shared/providers/`).

use super::{Callback, InboundError, Receipt, Receivers};
use crate::domain::{phone, Channel, ProviderKind};

/// Applies a keyword in `text` from `from` (E.164); other texts change nothing.
pub(super) async fn apply(r: &Receivers, association_id: i64, from: &str, channel: Channel, text: &str, provider: &str) -> Result<(), InboundError> {
    match crate::directory::opt_outs::apply_inbound(r.store.as_ref(), association_id, from, channel, text, provider).await {
        Ok(_) => Ok(()),
        Err(crate::directory::DirectoryError::Store(e)) => Err(InboundError::Unavailable(e.to_string())),
        // A sender that is not a number the list can key (a short code): nothing to record.
        Err(e) => {
            tracing::debug!(error = %e, "inbound keyword not applied");
            Ok(())
        }
    }
}

/// Whether a Twilio webhook is an incoming message rather than a status callback.
pub(super) fn is_twilio_inbound(pairs: &[(String, String)]) -> bool {
    let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    get("MessageStatus").is_none() && get("SmsStatus").is_some_and(|s| s.eq_ignore_ascii_case("received")) && get("Body").is_some()
}

/// Twilio's incoming-message webhook: signature checked with the credential of the URL,
/// then the keyword (if any) applied for the sender (`whatsapp:+…` senders on WhatsApp).
pub(super) async fn twilio_inbound(r: &Receivers, cb: &Callback<'_>, pairs: &[(String, String)]) -> Result<Receipt, InboundError> {
    let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let owner = r.store.credential_owner(cb.credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?;
    let cred = match owner {
        Some(a) => r.store.get_credential(a, cb.credential_id).await.map_err(|e| InboundError::Unavailable(e.to_string()))?,
        None => None,
    };
    let cred = cred.filter(|c| c.provider_id == ProviderKind::Twilio.id()).ok_or(InboundError::Forbidden("no Twilio credential has this id"))?;
    let token = r.credential_field(&cred, "authToken").ok_or(InboundError::Forbidden("the credential has no authToken"))?;
    let signature = cb.twilio_signature.ok_or(InboundError::Forbidden("X-Twilio-Signature missing"))?;
    if !crate::auth::twilio::verify(&token, &r.callback_urls(cb), pairs, signature) {
        return Err(InboundError::Forbidden("X-Twilio-Signature does not verify"));
    }
    let from = get("From");
    let (channel, number) = match from.strip_prefix("whatsapp:") {
        Some(n) => (Channel::Whatsapp, n.to_owned()),
        None => (Channel::Sms, from.clone()),
    };
    let Ok(number) = phone::normalise(&number) else { return Ok(Receipt::default()) };
    apply(r, cred.association_id, &number.e164, channel, &get("Body"), "twilio").await?;
    Ok(Receipt { changed: 1, ..Receipt::default() })
}
