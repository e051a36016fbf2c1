//! `GET /api/v1/providers`: the provider catalogue with ids, channels and credential fields.

use super::extract::AnyKeyAuth;
use super::Envelope;
use crate::domain::ProviderKind;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    id: i64,
    code: &'static str,
    name: &'static str,
    /// The primary channel, as the document's schema lists it.
    channel: &'static str,
    channels: Vec<&'static str>,
    fields: &'static [&'static str],
}

impl ProviderView {
    pub fn of(p: ProviderKind) -> Self {
        Self {
            id: p.id(),
            code: p.code(),
            name: p.name(),
            channel: p.channels()[0].as_str(),
            channels: p.channels().iter().map(|c| c.as_str()).collect(),
            fields: p.required_fields(),
        }
    }
}

pub async fn list(AnyKeyAuth(_caller): AnyKeyAuth) -> Envelope<Vec<ProviderView>> {
    Envelope::ok(ProviderKind::ALL.into_iter().map(ProviderView::of).collect())
}
