//! Message templates of an association, addressed by code (the webhook's `templateCode`).

use super::{DirResult, Directory, DirectoryError};
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
            name: input.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
            content: validate_content(&input.content)?,
            channel: validate_channel(input.channel.as_deref().unwrap_or("sms"))?,
            created_at: now,
            updated_at: now,
        };
        self.store.put_template(&rec, true).await.map_err(|e| match e {
            StoreError::Conflict(_) => DirectoryError::Conflict(format!("Template `{}` already exists for association {association_id}", rec.code)),
            other => other.into(),
        })?;
        Ok(rec)
    }

    pub async fn get_template(&self, association_id: i64, code: &str) -> DirResult<TemplateRecord> {
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
        let mut rec = self.get_template(association_id, code).await?;
        if let Some(n) = patch.name {
            rec.name = Some(n.trim().to_string()).filter(|n| !n.is_empty());
        }
        if let Some(c) = patch.content {
            rec.content = validate_content(&c)?;
        }
        if let Some(ch) = patch.channel {
            rec.channel = validate_channel(&ch)?;
        }
        rec.updated_at = now_ms().max(rec.updated_at);
        self.store.put_template(&rec, false).await?;
        Ok(rec)
    }

    pub async fn delete_template(&self, association_id: i64, code: &str) -> DirResult<()> {
        if self.store.delete_template(association_id, code).await? {
            Ok(())
        } else {
            Err(DirectoryError::NotFound(format!("Template `{code}` not found for association {association_id}")))
        }
    }
}

fn validate_code(code: &str) -> DirResult<String> {
    let code = code.trim();
    let ok = !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
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
