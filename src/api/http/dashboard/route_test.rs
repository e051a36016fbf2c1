//! `GET /dashboard/route-test?associationId=&phoneNumber=&channel=`: where would a message to
//! this number go? Normalises the number as a send would, then runs dispatch's own routing
//! decision (`dispatch::routing::route`, the function the association actor calls) on the
//! association's current credentials and allocations, and explains each step of the answer:
//! the first credential is the route, the rest the failover order.

use super::Dash;
use crate::api::http::extract::QueryParams;
use crate::api::http::{ApiError, AppState, Envelope};
use crate::domain::{Channel, ProviderKind};
use crate::store::RoutingType;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteQuery {
    association_id: Option<i64>,
    phone_number: Option<String>,
    channel: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    credential_id: i64,
    provider: Option<&'static str>,
    sender_name: String,
    is_default: bool,
    /// Why it is at this place: `include` (allocation id), `exclude` (allocation id), `default`, `failover`.
    reason: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteView {
    association_id: i64,
    phone_number: String,
    country: Option<String>,
    channel: &'static str,
    /// The credential a message would go to first, then the failover order.
    route: Vec<Step>,
}

pub async fn route_test(State(s): State<AppState>, dash: Dash, QueryParams(q): QueryParams<RouteQuery>) -> Result<Envelope<RouteView>, ApiError> {
    let association_id = match dash.operator.scope(q.association_id)? {
        Some(a) => a,
        None => return Err(ApiError::invalid("associationId is required")),
    };
    let raw = q.phone_number.as_deref().map(str::trim).filter(|p| !p.is_empty()).ok_or_else(|| ApiError::invalid("phoneNumber is required"))?;
    let recipient = crate::domain::phone::normalise(raw).map_err(|why| ApiError::invalid(format!("phoneNumber `{raw}` {why}")))?;
    let channel = match q.channel.as_deref().filter(|c| !c.is_empty()) {
        None => Channel::Sms,
        Some(c) => Channel::parse(c).ok_or_else(|| ApiError::invalid(format!("channel `{c}` is not a channel this engine serves")))?,
    };
    s.directory.get_association(association_id).await?;
    let credentials = s.directory.list_credentials(association_id).await?;
    let allocations = s.directory.list_allocations(association_id).await?;
    let order = crate::dispatch::routing::route(recipient.country.as_deref(), channel, &credentials, &allocations);
    let cc = recipient.country.as_deref();
    let reason = |id: i64, first_default: bool| -> String {
        let include = allocations.iter().find(|a| {
            a.credential_id == id && a.routing_type == RoutingType::Include && cc.is_some_and(|c| a.country_code.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(c)))
        });
        if let Some(a) = include {
            return format!("include allocation {} ({})", a.id, a.country_code.as_deref().unwrap_or(""));
        }
        let exclude = allocations.iter().find(|a| {
            a.credential_id == id && a.routing_type == RoutingType::Exclude && !cc.is_some_and(|c| a.excluded_countries.iter().any(|x| x.eq_ignore_ascii_case(c)))
        });
        if let Some(a) = exclude {
            return format!("all-except allocation {} (excludes {})", a.id, a.excluded_countries.join(", "));
        }
        if first_default { "default credential".into() } else { "failover".into() }
    };
    let route = order
        .iter()
        .filter_map(|id| credentials.iter().find(|c| c.id == *id))
        .map(|c| Step {
            credential_id: c.id,
            provider: ProviderKind::from_id(c.provider_id).map(|p| p.code()),
            sender_name: c.sender_name.clone(),
            is_default: c.is_default,
            reason: reason(c.id, c.is_default),
        })
        .collect();
    Ok(Envelope::ok(RouteView { association_id, phone_number: recipient.e164, country: recipient.country, channel: channel.as_str(), route }))
}
