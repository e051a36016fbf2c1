//! Country routing allocations (documented under "Create Allocation"): `include` needs a
//! `countryCode`, `exclude` needs `excludedCountries`, codes are ISO 3166-1 alpha-2, and the
//! credential must belong to the association.

use super::{retry_cas, DirResult, Directory, DirectoryError, Expect};
use crate::domain::{now_ms, phone};
use crate::store::{AllocationRecord, RoutingType};

pub struct AllocationInput {
    pub credential_id: i64,
    pub routing_type: String,
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub excluded_countries: Option<Vec<String>>,
    pub priority: Option<i32>,
}

#[derive(Default)]
pub struct AllocationPatch {
    pub credential_id: Option<i64>,
    pub routing_type: Option<String>,
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub excluded_countries: Option<Vec<String>>,
    pub priority: Option<i32>,
}

impl Directory {
    pub async fn list_allocations(&self, association_id: i64) -> DirResult<Vec<AllocationRecord>> {
        Ok(self.store.list_allocations(association_id).await?)
    }

    pub async fn get_allocation(&self, id: i64) -> DirResult<AllocationRecord> {
        self.store.get_allocation(id).await?.ok_or_else(|| DirectoryError::NotFound(format!("Allocation {id} not found")))
    }

    pub async fn create_allocation(&self, association_id: i64, input: AllocationInput) -> DirResult<AllocationRecord> {
        self.get_association(association_id).await?;
        let now = now_ms();
        let mut rec = AllocationRecord {
            association_id,
            id: self.ids.next_id(),
            credential_id: input.credential_id,
            routing_type: routing_type(&input.routing_type)?,
            country_code: input.country_code,
            country_name: input.country_name,
            excluded_countries: input.excluded_countries.unwrap_or_default(),
            priority: input.priority.unwrap_or(0),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.check_allocation(&mut rec).await?;
        self.store.put_allocation(&rec, Expect::Absent).await?;
        Ok(rec)
    }

    pub async fn update_allocation(&self, id: i64, patch: AllocationPatch) -> DirResult<AllocationRecord> {
        let routing = patch.routing_type.as_deref().map(routing_type).transpose()?;
        retry_cas!({
            let mut rec = self.get_allocation(id).await?;
            let expected = rec.version;
            if let Some(c) = patch.credential_id {
                rec.credential_id = c;
            }
            if let Some(t) = routing {
                rec.routing_type = t;
            }
            if patch.country_code.is_some() {
                rec.country_code = patch.country_code.clone();
            }
            if patch.country_name.is_some() {
                rec.country_name = patch.country_name.clone();
            }
            if let Some(x) = &patch.excluded_countries {
                rec.excluded_countries = x.clone();
            }
            if let Some(p) = patch.priority {
                rec.priority = p;
            }
            rec.updated_at = now_ms().max(rec.updated_at);
            self.check_allocation(&mut rec).await?;
            rec.version = expected + 1;
            self.store.put_allocation(&rec, Expect::Version(expected)).await?;
            Ok(rec)
        })
    }

    pub async fn delete_allocation(&self, id: i64) -> DirResult<AllocationRecord> {
        retry_cas!({
            let rec = self.get_allocation(id).await?;
            if self.store.delete_allocation(rec.association_id, id, rec.version).await? {
                Ok(rec)
            } else {
                Err(DirectoryError::NotFound(format!("Allocation {id} not found")))
            }
        })
    }

    /// Validates and normalises (upper-case codes; the field of the other type cleared).
    async fn check_allocation(&self, rec: &mut AllocationRecord) -> DirResult<()> {
        use crate::domain::input;
        if let Some(n) = &rec.country_name {
            rec.country_name = Some(input::name("countryName", n, input::MAX_COUNTRY_NAME_CHARS)?.to_string()).filter(|n| !n.is_empty());
        }
        if let Some(c) = &rec.country_code {
            input::name("countryCode", c, 8)?;
        }
        if rec.excluded_countries.len() > 300 {
            return Err(DirectoryError::Invalid("excludedCountries may list at most 300 countries".into()));
        }
        if self.store.get_credential(rec.association_id, rec.credential_id).await?.is_none() {
            return Err(DirectoryError::Invalid(format!(
                "credentialId {} is not a credential of association {}",
                rec.credential_id, rec.association_id
            )));
        }
        match rec.routing_type {
            RoutingType::Include => {
                let code = rec.country_code.as_deref().map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty());
                let Some(code) = code else {
                    return Err(DirectoryError::Invalid("countryCode is required for an include allocation".into()));
                };
                if !phone::is_country_code(&code) {
                    return Err(DirectoryError::Invalid(format!("countryCode `{code}` is not an ISO 3166-1 alpha-2 country code")));
                }
                rec.country_code = Some(code);
                rec.excluded_countries.clear();
            }
            RoutingType::Exclude => {
                if rec.excluded_countries.is_empty() {
                    return Err(DirectoryError::Invalid("excludedCountries is required for an exclude allocation".into()));
                }
                let mut codes = Vec::with_capacity(rec.excluded_countries.len());
                for (i, c) in rec.excluded_countries.iter().enumerate() {
                    let c = c.trim().to_ascii_uppercase();
                    if !phone::is_country_code(&c) {
                        return Err(DirectoryError::Invalid(format!("excludedCountries[{i}] `{c}` is not an ISO 3166-1 alpha-2 country code")));
                    }
                    if !codes.contains(&c) {
                        codes.push(c);
                    }
                }
                rec.excluded_countries = codes;
                rec.country_code = None;
            }
        }
        Ok(())
    }
}

fn routing_type(t: &str) -> DirResult<RoutingType> {
    match t {
        "include" => Ok(RoutingType::Include),
        "exclude" => Ok(RoutingType::Exclude),
        other => Err(DirectoryError::Invalid(format!("routingType `{other}` is not one of include, exclude"))),
    }
}
