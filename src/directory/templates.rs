//! Message templates of an association, addressed by code (the webhook's `templateCode`).

use super::{retry_cas, DirResult, Directory, DirectoryError, Expect};
use crate::domain::now_ms;
use crate::store::{StoreError, TemplateRecord};

pub struct TemplateInput {
    pub code: String,
    pub name: Option<String>,
    pub content: String,
    pub channel: Option<String>,
}

#[derive(Default)]
pub struct TemplatePatch {
    pub name: Option<String>,
    pub content: Option<String>,
    pub channel: Option<String>,
}

const MAX_CONTENT_CHARS: usize = 2_000;

impl Directory {
    pub async fn create_template(&self, association_id: i64, input: TemplateInput) -> DirResult<TemplateRecord> {
        self.get_association(association_id).await?;
        let now = now_ms();
        let rec = TemplateRecord {
            association_id,
            code: validate_code(&input.code)?,
            name: input.name.as_deref().map(validate_template_name).transpose()?.flatten(),
            content: validate_content(&input.content)?,
            channel: validate_channel(input.channel.as_deref().unwrap_or("sms"))?,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.store.put_template(&rec, Expect::Absent).await.map_err(|e| match e {
            StoreError::Conflict(_) => DirectoryError::Conflict(format!("Template `{}` already exists for association {association_id}", rec.code)),
            other => other.into(),
        })?;
        Ok(rec)
    }

    pub async fn get_template(&self, association_id: i64, code: &str) -> DirResult<TemplateRecord> {
        crate::domain::input::identifier("templateCode", code, crate::domain::input::MAX_TEMPLATE_CODE_CHARS)?;
        self.store
            .get_template(association_id, code)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("Template `{code}` not found for association {association_id}")))
    }

    pub async fn list_templates(&self, association_id: i64) -> DirResult<Vec<TemplateRecord>> {
        self.get_association(association_id).await?;
        Ok(self.store.list_templates(association_id).await?)
    }

    pub async fn update_template(&self, association_id: i64, code: &str, patch: TemplatePatch) -> DirResult<TemplateRecord> {
        let name = patch.name.as_deref().map(validate_template_name).transpose()?;
        let content = patch.content.as_deref().map(validate_content).transpose()?;
        let channel = patch.channel.as_deref().map(validate_channel).transpose()?;
        retry_cas!({
            let mut rec = self.get_template(association_id, code).await?;
            let expected = rec.version;
            if let Some(n) = &name {
                rec.name = n.clone();
            }
            if let Some(c) = &content {
                rec.content = c.clone();
            }
            if let Some(ch) = &channel {
                rec.channel = ch.clone();
            }
            rec.updated_at = now_ms().max(rec.updated_at);
            rec.version = expected + 1;
            self.store.put_template(&rec, Expect::Version(expected)).await?;
            Ok(rec)
        })
    }

    pub async fn delete_template(&self, association_id: i64, code: &str) -> DirResult<()> {
        retry_cas!({
            let rec = self.get_template(association_id, code).await?;
            if self.store.delete_template(association_id, code, rec.version).await? {
                Ok(())
            } else {
                Err(DirectoryError::NotFound(format!("Template `{code}` not found for association {association_id}")))
            }
        })
    }
}

/// A template's display name: optional, bounded, no control characters.
fn validate_template_name(name: &str) -> DirResult<Option<String>> {
    let n = crate::domain::input::name("name", name, crate::domain::input::MAX_NAME_CHARS)?;
    Ok(Some(n.to_string()).filter(|n| !n.is_empty()))
}

/// Bounded before it is ever part of a store key (lookups included).
fn validate_code(code: &str) -> DirResult<String> {
    let code = crate::domain::input::identifier("templateCode", code, crate::domain::input::MAX_TEMPLATE_CODE_CHARS)?;
    let ok = code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(code.to_string())
    } else {
        Err(DirectoryError::Invalid(format!("code `{code}` must be 1 to 64 letters, digits, `_`, `-` or `.`")))
    }
}

fn validate_content(content: &str) -> DirResult<String> {
    if content.trim().is_empty() {
        return Err(DirectoryError::Invalid("content must not be empty".into()));
    }
    let n = content.chars().count();
    if n > MAX_CONTENT_CHARS {
        return Err(DirectoryError::Invalid(format!("content has {n} characters; the limit is {MAX_CONTENT_CHARS}")));
    }
    Ok(content.to_string())
}

fn validate_channel(channel: &str) -> DirResult<String> {
    if crate::domain::Channel::parse(channel).is_some() {
        Ok(channel.to_string())
    } else {
        Err(DirectoryError::Invalid(format!("channel `{channel}` is not one of sms, whatsapp")))
    }
}
