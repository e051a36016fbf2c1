//! The WhatsApp service (seed 000, "WhatsApp Integration"): an association's Meta credential,
//! its message templates and their life at Meta (submit, sync), and the WhatsApp sends —
//! approved templates at any time, free-form text and media only inside the 24-hour
//! customer-service window. Sends go through ingress like every other message (durable
//! before any answer) and are delivered by dispatch on the WhatsApp channel; the send routes
//! then wait, bounded, for the provider's answer, since the documented response carries
//! Meta's message id.
//!
//! May depend on: domain, store, directory, ingress, campaigns (bulk jobs), dispatch,
//! providers (the Graph API client). Never on api.

pub mod bulk;
mod credentials;
pub mod history;
mod meta_format;
mod send;
pub mod templates;

pub use credentials::{CredentialsInput, CredentialsView};
pub use send::{MediaSend, SendOutcome, TemplateSend, TextSend};
pub use templates::{SyncReport, TemplateInput, TemplatePatch};

use crate::directory::{Directory, DirectoryError};
use crate::dispatch::Dispatcher;
use crate::domain::{IdGenerator, ProviderKind};
use crate::ingress::{Ingress, IngressError};
use crate::providers::meta_graph::{Graph, GraphError};
use crate::providers::ProviderAdapter;
use crate::store::{CredentialRecord, SharedStore, StoreError};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The customer-service window: free-form messages only this long after the customer wrote.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum WhatsAppError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The 24-hour customer-service window with the recipient is closed.
    #[error("{0}")]
    WindowClosed(String),
    /// Meta could not be reached, failed, or paced us (a refusal is `Rejected`).
    #[error("{0}")]
    Meta(String),
    /// The provider (or Meta, for a template call) refused the request for good.
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Ingress(#[from] IngressError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type WaResult<T> = Result<T, WhatsAppError>;

pub struct WhatsApp {
    store: SharedStore,
    directory: Arc<Directory>,
    ingress: Arc<Ingress>,
    dispatcher: Dispatcher,
    ids: Arc<IdGenerator>,
    http: reqwest::Client,
    /// Timeout of one Graph API call (template management).
    graph_timeout: Duration,
    /// How long a send route waits for the provider's answer before answering `queued`.
    send_wait: Duration,
}

/// An association's Meta credential with its unsealed fields.
pub(crate) struct MetaCredential {
    pub record: CredentialRecord,
    pub fields: Map<String, Value>,
}

impl MetaCredential {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).and_then(Value::as_str).unwrap_or("")
    }
}

impl WhatsApp {
    pub fn new(
        store: SharedStore,
        directory: Arc<Directory>,
        ingress: Arc<Ingress>,
        dispatcher: Dispatcher,
        ids: Arc<IdGenerator>,
        provider_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = dispatcher.http().reqwest().clone();
        Ok(Self {
            store,
            directory,
            ingress,
            dispatcher,
            ids,
            http,
            graph_timeout: provider_timeout,
            send_wait: provider_timeout + Duration::from_secs(2),
        })
    }

    /// The association's Meta credential (the newest, if several were added by hand).
    pub(crate) async fn meta_credential(&self, association_id: i64) -> WaResult<Option<MetaCredential>> {
        let creds = self.directory.list_credentials(association_id).await?;
        let Some(record) = creds.into_iter().filter(|c| c.provider_id == ProviderKind::MetaWhatsapp.id()).max_by_key(|c| c.id) else {
            return Ok(None);
        };
        let fields = self.directory.credentials_of(&record)?;
        Ok(Some(MetaCredential { record, fields }))
    }

    async fn require_meta_credential(&self, association_id: i64) -> WaResult<MetaCredential> {
        self.meta_credential(association_id).await?.ok_or_else(|| {
            WhatsAppError::Invalid(format!(
                "association {association_id} has no WhatsApp credentials; save them with POST /api/v1/whatsapp-credentials/{association_id}"
            ))
        })
    }

    /// The Graph API client for template management with this credential.
    fn graph<'a>(&'a self, cred: &'a MetaCredential) -> WaResult<Graph<'a>> {
        let waba_id = cred.field("businessAccountId");
        if waba_id.is_empty() {
            return Err(WhatsAppError::Invalid("the WhatsApp credentials have no businessAccountId, which template management needs".into()));
        }
        let base = cred.record.api_url.as_deref().unwrap_or(crate::providers::MetaWhatsapp.default_base_url());
        Ok(Graph {
            http: &self.http,
            base_url: base.trim_end_matches('/').to_owned(),
            access_token: cred.field("accessToken"),
            waba_id,
            timeout: self.graph_timeout,
        })
    }
}

impl From<GraphError> for WhatsAppError {
    fn from(e: GraphError) -> Self {
        meta_error(e, "")
    }
}

/// A Graph API failure as the caller should see it: Meta answering a 4xx with its error
/// object (invalid parameter, duplicate template, bad token) refused *this request*, which
/// is the caller's to fix (422, [`WhatsAppError::Rejected`]); Meta unreachable, unreadable,
/// failing (5xx) or pacing us (429) is an upstream failure (502, [`WhatsAppError::Meta`]).
/// Schemathesis found template submissions Meta refused answered as 502s.
pub(crate) fn meta_error(e: GraphError, context: &str) -> WhatsAppError {
    let refused = matches!(&e, GraphError::Meta { status, .. } if (400..500).contains(status) && *status != 429);
    let message = format!("{context}{e}");
    if refused {
        WhatsAppError::Rejected(message)
    } else {
        WhatsAppError::Meta(message)
    }
}
