//! Documentation of the management routes: associations (and their key rotation and status
//! callback attempts), provider credentials, and the provider list. Key-pair auth
//! (`X-API-Key` + `X-API-Secret`); the super-admin key sent as both works everywhere.

use super::{Done, Success};
use crate::api::http::{associations as a, credentials as c, providers as p};

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_associations,
    create_association,
    get_association,
    update_association,
    rotate_keys,
    callback_attempts,
    list_credentials,
    add_credential,
    update_credential,
    delete_credential,
    list_providers
))]
pub struct Doc;

#[utoipa::path(get, path = "/api/v1/associations", tag = "associations",
    security(("superAdminKey" = [], "apiSecret" = [])),
    responses((status = 200, description = "Every association", body = Success<Vec<a::AssociationView>>)))]
#[allow(dead_code)]
fn list_associations() {}

#[utoipa::path(post, path = "/api/v1/associations", tag = "associations",
    security(("superAdminKey" = [], "apiSecret" = [])),
    request_body = a::CreateBody,
    responses(
        (status = 201, description = "Created; the secretKey and adminApiKey are shown only now", body = Success<a::CreatedView>),
        (status = 409, description = "An association with this id exists", body = super::Failure)))]
#[allow(dead_code)]
fn create_association() {}

#[utoipa::path(get, path = "/api/v1/associations/{id}", tag = "associations",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(("id" = i64, Path, description = "Association id")),
    responses((status = 200, description = "The association", body = Success<a::AssociationView>)))]
#[allow(dead_code)]
fn get_association() {}

#[utoipa::path(put, path = "/api/v1/associations/{id}", tag = "associations",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(("id" = i64, Path, description = "Association id")),
    request_body = a::UpdateBody,
    responses(
        (status = 200, description = "Updated (allowedIps by the super-admin only)", body = Success<a::AssociationView>),
        (status = 409, description = "A concurrent write won; retry", body = super::Failure)))]
#[allow(dead_code)]
fn update_association() {}

#[utoipa::path(post, path = "/api/v1/associations/{id}/rotate-keys", tag = "associations",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(("id" = i64, Path, description = "Association id")),
    request_body = a::RotateBody,
    responses(
        (status = 200, description = "The new keys; the old ones stop working at once", body = Success<a::RotatedView>),
        (status = 409, description = "A concurrent write won; retry", body = super::Failure)))]
#[allow(dead_code)]
fn rotate_keys() {}

#[utoipa::path(get, path = "/api/v1/associations/{id}/callbacks", tag = "associations",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(
        ("id" = i64, Path, description = "Association id"),
        ("status" = Option<String>, Query, description = "failed, pending or delivered"),
        ("limit" = Option<usize>, Query, description = "At most this many, newest first")),
    responses((status = 200, description = "Status callback attempts, newest first", body = Success<Vec<a::AttemptView>>)))]
#[allow(dead_code)]
fn callback_attempts() {}

#[utoipa::path(get, path = "/api/v1/associations/{id}/credentials", tag = "credentials",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(("id" = i64, Path, description = "Association id")),
    responses((status = 200, description = "The association's provider credentials (secrets never shown)", body = Success<Vec<c::CredentialView>>)))]
#[allow(dead_code)]
fn list_credentials() {}

#[utoipa::path(post, path = "/api/v1/associations/{id}/credentials", tag = "credentials",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(("id" = i64, Path, description = "Association id")),
    request_body = c::AddBody,
    responses((status = 201, description = "Created", body = Success<c::CredentialView>)))]
#[allow(dead_code)]
fn add_credential() {}

#[utoipa::path(put, path = "/api/v1/associations/{id}/credentials/{credential_id}", tag = "credentials",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(("id" = i64, Path, description = "Association id"), ("credential_id" = i64, Path, description = "Credential id")),
    request_body = c::UpdateBody,
    responses(
        (status = 200, description = "Updated", body = Success<c::CredentialView>),
        (status = 409, description = "A concurrent write won; retry", body = super::Failure)))]
#[allow(dead_code)]
fn update_credential() {}

#[utoipa::path(delete, path = "/api/v1/associations/{id}/credentials/{credential_id}", tag = "credentials",
    security(("apiKey" = [], "apiSecret" = []), ("superAdminKey" = [], "apiSecret" = [])),
    params(("id" = i64, Path, description = "Association id"), ("credential_id" = i64, Path, description = "Credential id")),
    responses(
        (status = 200, description = "Deleted", body = Done),
        (status = 409, description = "A concurrent write won; retry", body = super::Failure)))]
#[allow(dead_code)]
fn delete_credential() {}

#[utoipa::path(get, path = "/api/v1/providers", tag = "credentials",
    security(("apiKey" = [], "apiSecret" = []), ("apiKey" = []), ("superAdminKey" = [])),
    responses((status = 200, description = "Every provider the engine speaks, with its channels and credential fields", body = Success<Vec<p::ProviderView>>)))]
#[allow(dead_code)]
fn list_providers() {}
