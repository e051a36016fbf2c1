//! SMTP (provider `smtp`): email through any relay, with `lettre`. Transport only, like every
//! adapter: it builds the message (multipart/alternative, a plain and an HTML part) and the
//! relay connection settings from the credential, and classifies the relay's answer. The
//! call itself is made by `providers::send` through the pooled connection kept on the
//! credential; retries, the breaker and failover stay with the credential actor.
//!
//! Credential fields: `host`, `fromAddress` (required); `port` (default by TLS mode: 465
//! implicit, 587 STARTTLS, 25 none); `tls` = `implicit` | `starttls` | `none` (default
//! `starttls`; `none` only for trusted relays and loopback tests); `username` + `password`
//! (AUTH PLAIN/LOGIN; sealed at rest like every credential field); `fromName`.
//!
//! Classification (RFC 5321 reply codes): a 2yz is accepted (the provider id is the
//! Message-ID we set); 4yz is transient (the relay asks to try later: greylisting, a full
//! queue, 421 closing); 5yz is permanent: mailbox or address errors (550, 551, 553, 501 on an
//! address) fail the recipient, authentication or policy refusals of the sender (530, 535,
//! 534, 554 5.7.x) break the credential, anything else rejects the content. No connection
//! (refused, DNS, TLS handshake) is transient: nothing was sent; a timeout or a drop once
//! the conversation started is ambiguous.

use super::{BuildError, OutboundMessage, Payload, ProviderAdapter, ProviderCredential, SendOutcome};
use crate::domain::ProviderKind;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::response::{Response, Severity};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub struct Smtp;

/// A credential's relay connection (pooled: a campaign reuses its connections).
pub type Mailer = AsyncSmtpTransport<Tokio1Executor>;

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// Plain, then STARTTLS, which must succeed (submission, port 587).
    StartTls,
    /// No TLS at all: trusted local relays and tests.
    None,
}

impl TlsMode {
    pub fn parse(s: &str) -> Result<TlsMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "starttls" => Ok(TlsMode::StartTls),
            "implicit" | "tls" | "ssl" | "smtps" => Ok(TlsMode::Implicit),
            "none" | "plain" => Ok(TlsMode::None),
            other => Err(format!("credentials.tls `{other}` is not one of implicit, starttls, none")),
        }
    }

    fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => 465,
            TlsMode::StartTls => 587,
            TlsMode::None => 25,
        }
    }
}

/// The relay settings of a credential, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RelaySettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: Mailbox,
}

impl RelaySettings {
    pub fn from_credential(cred: &ProviderCredential) -> Result<RelaySettings, BuildError> {
        let host = cred.field("host").trim().to_string();
        if host.is_empty() {
            return Err(BuildError::credential("smtp credential lacks `host`"));
        }
        let tls = TlsMode::parse(cred.field("tls")).map_err(BuildError::credential)?;
        // `port` may be stored as a number or a string.
        let port = match cred.fields.get("port") {
            None | Some(serde_json::Value::Null) => tls.default_port(),
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
                .ok_or_else(|| BuildError::credential(format!("credentials.port {n} is not a TCP port")))?,
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => tls.default_port(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<u16>().ok().filter(|p| *p > 0)
                .ok_or_else(|| BuildError::credential(format!("credentials.port `{s}` is not a TCP port")))?,
            Some(other) => return Err(BuildError::credential(format!("credentials.port {other} is not a TCP port"))),
        };
        let from_address = cred.field("fromAddress").trim();
        let address = crate::domain::email::normalise(from_address)
            .map_err(|why| BuildError::credential(format!("credentials.fromAddress `{from_address}` {why}")))?;
        let address = address.parse().map_err(|e| BuildError::credential(format!("credentials.fromAddress `{from_address}`: {e}")))?;
        let name = cred.field("fromName").trim();
        let from = Mailbox::new((!name.is_empty()).then(|| name.to_string()), address);
        let opt = |k: &str| Some(cred.field(k).to_string()).filter(|s| !s.is_empty());
        Ok(RelaySettings { host, port, tls, username: opt("username"), password: opt("password"), from })
    }

    /// A pooled transport to this relay; `timeout` bounds each SMTP command.
    pub fn mailer(&self, timeout: Duration) -> Result<Mailer, BuildError> {
        let params = || TlsParameters::new(self.host.clone()).map_err(|e| BuildError::credential(format!("TLS settings for `{}`: {e}", self.host)));
        let tls = match self.tls {
            TlsMode::Implicit => Tls::Wrapper(params()?),
            TlsMode::StartTls => Tls::Required(params()?),
            TlsMode::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str()).port(self.port).tls(tls).timeout(Some(timeout));
        if let Some(user) = &self.username {
            b = b.credentials(Credentials::new(user.clone(), self.password.clone().unwrap_or_default()));
        }
        Ok(b.build())
    }
}

impl Smtp {
    /// The email for one message: From the credential, To the recipient, the subject, a
    /// plain and an HTML part, and a Message-ID made of our message id (the provider id we
    /// record, the one a bounce would cite).
    pub fn build_mail(&self, relay: &RelaySettings, msg: &OutboundMessage) -> Result<(Message, String), BuildError> {
        let Payload::Email { subject, text, html } = &msg.payload else {
            return Err(BuildError::payload(format!("smtp does not deliver the {} channel", msg.payload.channel().as_str())));
        };
        let to: Mailbox = msg.recipient.parse().map_err(|e| BuildError::payload(format!("recipient `{}` is not an email address: {e}", msg.recipient)))?;
        let message_id = format!("<jood.{}@{}>", msg.message_id, relay.from.email.domain());
        let html = html.clone().unwrap_or_else(|| crate::domain::email::html_from_text(text));
        let mail = Message::builder()
            .from(relay.from.clone())
            .to(to)
            .subject(subject.as_str())
            .message_id(Some(message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(text.clone(), html))
            .map_err(|e| BuildError::payload(format!("the email could not be built: {e}")))?;
        Ok((mail, message_id))
    }

    /// The relay's answer, normalised.
    pub fn classify_reply(&self, result: Result<Response, lettre::transport::smtp::Error>, message_id: &str) -> SendOutcome {
        let e = match result {
            Ok(r) if r.is_positive() => return SendOutcome::Accepted { provider_message_id: message_id.to_string() },
            Ok(r) => return SendOutcome::Ambiguous { reason: format!("SMTP {}: unexpected reply {}", r.code(), reply_text(&r)) },
            Err(e) => e,
        };
        let text = super::error_chain(&e);
        match e.status() {
            Some(code) if code.severity == Severity::TransientNegativeCompletion => {
                SendOutcome::Transient { reason: format!("SMTP {code} (transient): {text}") }
            }
            Some(code) => {
                let n = u16::from(code);
                let lower = text.to_ascii_lowercase();
                let reason = format!("SMTP {code} (permanent): {text}");
                if matches!(n, 530 | 534 | 535 | 538) || (n == 554 && lower.contains("5.7.") && !lower.contains("recipient")) {
                    SendOutcome::PermanentConfig { reason }
                } else if matches!(n, 550 | 551 | 553) || (n == 501 && lower.contains("address")) || lower.contains("5.1.") {
                    SendOutcome::PermanentRecipient { reason }
                } else {
                    SendOutcome::PermanentContent { reason }
                }
            }
            // lettre has no accessor for its connection kind; its Display names it. A TLS
            // handshake failure is a connection failure too: the relay saw no mail.
            None if text.starts_with("Connection error") || e.is_tls() => SendOutcome::Transient { reason: format!("connect failed: {text}") },
            None if e.is_timeout() => SendOutcome::Ambiguous { reason: format!("timed out: {text}") },
            None if e.is_client() => SendOutcome::PermanentConfig { reason: format!("SMTP client error: {text}") },
            None => SendOutcome::Ambiguous { reason: format!("connection failed during the SMTP conversation: {text}") },
        }
    }
}

fn reply_text(r: &Response) -> String {
    r.message().collect::<Vec<_>>().join(" ")
}

/// One email: the credential's pooled transport (made on first use), the message, the answer.
pub(super) async fn deliver(adapter: &Smtp, cred: &ProviderCredential, msg: &OutboundMessage, timeout: Duration) -> SendOutcome {
    let relay = match RelaySettings::from_credential(cred) {
        Ok(r) => r,
        Err(BuildError::Credential(reason)) => return SendOutcome::PermanentConfig { reason },
        Err(BuildError::Payload(reason)) => return SendOutcome::PermanentContent { reason },
    };
    let (mail, message_id) = match adapter.build_mail(&relay, msg) {
        Ok(m) => m,
        Err(BuildError::Credential(reason)) => return SendOutcome::PermanentConfig { reason },
        Err(BuildError::Payload(reason)) => return SendOutcome::PermanentContent { reason },
    };
    let mailer = match cred.mailer.get() {
        Some(m) => m.clone(),
        None => match relay.mailer(timeout) {
            Ok(m) => cred.mailer.get_or_init(|| m).clone(),
            Err(BuildError::Credential(reason) | BuildError::Payload(reason)) => return SendOutcome::PermanentConfig { reason },
        },
    };
    // lettre bounds each command by the transport timeout; this bounds the whole exchange.
    match tokio::time::timeout(timeout * 2, mailer.send(mail)).await {
        Ok(result) => adapter.classify_reply(result, &message_id),
        Err(_) => SendOutcome::Ambiguous { reason: format!("no SMTP answer within {} ms", (timeout * 2).as_millis()) },
    }
}

impl ProviderAdapter for Smtp {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Smtp
    }

    /// SMTP has no base URL; the catalogue test wants an http(s) default, so this names the
    /// scheme the credential replaces with its own `host`.
    fn default_base_url(&self) -> &'static str {
        "http://smtp.invalid"
    }

    fn transport(&self) -> super::Transport<'_> {
        super::Transport::Smtp(self)
    }

    /// Never used: `providers::send` takes the SMTP path for this adapter (see `transport`).
    fn build_request(&self, _: &reqwest::Client, _: &ProviderCredential, _: &OutboundMessage) -> Result<reqwest::RequestBuilder, BuildError> {
        Err(BuildError::payload("smtp delivers over SMTP, not HTTP"))
    }

    fn classify(&self, status: reqwest::StatusCode, _: &reqwest::header::HeaderMap, _: &[u8]) -> SendOutcome {
        SendOutcome::PermanentConfig { reason: format!("smtp does not speak HTTP (got HTTP {status})") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cred(v: serde_json::Value) -> ProviderCredential {
        ProviderCredential::new(1, v.as_object().unwrap().clone(), String::new())
    }

    #[test]
    fn relay_settings_default_ports_by_tls_mode_and_check_fields() {
        let r = RelaySettings::from_credential(&cred(json!({"host": "mail.example.com", "fromAddress": "no-reply@Example.com"}))).unwrap();
        assert_eq!((r.port, r.tls), (587, TlsMode::StartTls));
        assert_eq!(r.from.email.to_string(), "no-reply@example.com");
        let r = RelaySettings::from_credential(&cred(json!({"host": "h.example", "fromAddress": "a@b.co", "tls": "implicit", "port": "2465", "username": "u", "password": "p"}))).unwrap();
        assert_eq!((r.port, r.tls, r.username.as_deref()), (2465, TlsMode::Implicit, Some("u")));
        let r = RelaySettings::from_credential(&cred(json!({"host": "h", "fromAddress": "a@b.co", "tls": "none", "port": 2525}))).unwrap();
        assert_eq!((r.port, r.tls), (2525, TlsMode::None));
        for (bad, needle) in [
            (json!({"fromAddress": "a@b.co"}), "host"),
            (json!({"host": "h", "fromAddress": "nope"}), "fromAddress"),
            (json!({"host": "h", "fromAddress": "a@b.co", "tls": "maybe"}), "credentials.tls"),
            (json!({"host": "h", "fromAddress": "a@b.co", "port": 70000}), "credentials.port"),
        ] {
            let err = RelaySettings::from_credential(&cred(bad)).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn mail_has_both_parts_and_our_message_id() {
        let relay = RelaySettings::from_credential(&cred(json!({"host": "h", "fromAddress": "a@b.co", "fromName": "Acme"}))).unwrap();
        let msg = OutboundMessage {
            message_id: 42,
            recipient: "user@example.com".into(),
            sender: String::new(),
            payload: Payload::Email { subject: "Order Update".into(), text: "Your order <1> shipped".into(), html: None },
            status_callback_url: None,
            validity_secs: None,
        };
        let (mail, id) = Smtp.build_mail(&relay, &msg).unwrap();
        assert_eq!(id, "<jood.42@b.co>");
        let raw = String::from_utf8(mail.formatted()).unwrap();
        for needle in ["Subject: Order Update", "To: user@example.com", "multipart/alternative", "text/plain", "text/html", "&lt;1&gt;", "Message-ID: <jood.42@b.co>", "From: Acme <a@b.co>"] {
            assert!(raw.contains(needle), "{needle} missing in {raw}");
        }
        let sms = OutboundMessage::sms(1, "+966500000001", "hi", "S");
        assert!(matches!(Smtp.build_mail(&relay, &sms), Err(BuildError::Payload(_))));
    }
}
