//! Documentation of the redirect links: their management (any API key scheme) and the
//! public `GET /r/{code}` redirect.

use super::{Done, Success};
use crate::api::http::links as l;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list_links, create_link, get_link, update_link, delete_link, redirect))]
pub struct Doc;

#[utoipa::path(get, path = "/api/v1/redirect-links", tag = "links",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(
        ("associationId" = Option<i64>, Query, description = "Required with the super-admin key"),
        ("page" = Option<usize>, Query, description = "From 1"),
        ("limit" = Option<usize>, Query, description = "1 to 100")),
    responses((status = 200, description = "A page of links", body = Success<l::LinkList>)))]
#[allow(dead_code)]
fn list_links() {}

#[utoipa::path(post, path = "/api/v1/redirect-links", tag = "links",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("associationId" = Option<i64>, Query, description = "Or in the body; required with the super-admin key")),
    request_body = l::CreateBody,
    responses((status = 201, description = "Created", body = Success<l::LinkView>)))]
#[allow(dead_code)]
fn create_link() {}

#[utoipa::path(get, path = "/api/v1/redirect-links/{id}", tag = "links",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Link id"), ("associationId" = Option<i64>, Query, description = "Required with the super-admin key")),
    responses((status = 200, description = "The link with its click count", body = Success<l::LinkView>)))]
#[allow(dead_code)]
fn get_link() {}

#[utoipa::path(put, path = "/api/v1/redirect-links/{id}", tag = "links",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Link id"), ("associationId" = Option<i64>, Query, description = "Or in the body; required with the super-admin key")),
    request_body = l::UpdateBody,
    responses((status = 200, description = "Updated", body = Success<l::LinkView>)))]
#[allow(dead_code)]
fn update_link() {}

#[utoipa::path(delete, path = "/api/v1/redirect-links/{id}", tag = "links",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    params(("id" = i64, Path, description = "Link id"), ("associationId" = Option<i64>, Query, description = "Required with the super-admin key")),
    responses((status = 200, description = "Deleted", body = Done)))]
#[allow(dead_code)]
fn delete_link() {}

#[utoipa::path(get, path = "/r/{code}", tag = "links",
    params(("code" = String, Path, description = "The link's short code")),
    responses(
        (status = 302, description = "Redirect to the target; the click is counted", headers(("Location" = String, description = "The target URL")))))]
#[allow(dead_code)]
fn redirect() {}
