//! Meta's Graph API for template management (`shared/providers/meta-whatsapp-cloud.md`,
//! "Template management"): create, list (following `paging.next`), get one, delete by name.
//! Transport only, like the send adapters: it builds the requests and reads the answers;
//! what to do with a template's status is the WhatsApp service's business.

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Pages followed at most when listing (100 templates a page): a WABA with more than 10,000
/// templates would be listed partly, and the error says so.
const MAX_PAGES: usize = 100;

/// A Meta credential's template-management access.
pub struct Graph<'a> {
    pub http: &'a reqwest::Client,
    /// With the API version, without a trailing slash (`https://graph.facebook.com/v23.0`).
    pub base_url: String,
    pub access_token: &'a str,
    pub waba_id: &'a str,
    pub timeout: Duration,
}

/// What Meta (or the way to it) said.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Meta's error object: `code` and its message.
    #[error("Meta error {code}: {message}")]
    Meta { status: u16, code: i64, message: String },
    /// No usable answer (connection, timeout, a body that is not Graph API JSON).
    #[error("Meta API unreachable or unreadable: {0}")]
    Transport(String),
}

/// A template as Meta lists it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MetaTemplate {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub components: Vec<Value>,
    #[serde(default)]
    pub rejected_reason: Option<String>,
}

/// Meta's answer to a create: `{"id","status","category"}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CreatedTemplate {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub category: String,
}

impl Graph<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        let resp = req
            .bearer_auth(self.access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| GraphError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| GraphError::Transport(e.to_string()))?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| GraphError::Transport(format!("HTTP {status}: the answer is not JSON")))?;
        if let Some(err) = v.get("error") {
            let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
            let message = err.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_owned();
            return Err(GraphError::Meta { status, code, message });
        }
        if !(200..300).contains(&status) {
            return Err(GraphError::Transport(format!("HTTP {status} without a Graph API error object")));
        }
        Ok(v)
    }

    /// `POST /{waba-id}/message_templates`.
    pub async fn create_template(&self, body: &Value) -> Result<CreatedTemplate, GraphError> {
        let v = self.call(self.http.post(self.url(&format!("{}/message_templates", self.waba_id))).json(body)).await?;
        serde_json::from_value(v).map_err(|e| GraphError::Transport(format!("unexpected create answer: {e}")))
    }

    /// `POST /{template-id}`: new components (and category) for review again.
    pub async fn edit_template(&self, template_id: &str, body: &Value) -> Result<(), GraphError> {
        let edit = serde_json::json!({ "components": body.get("components"), "category": body.get("category") });
        self.call(self.http.post(self.url(&urlencoding::encode(template_id))).json(&edit)).await.map(|_| ())
    }

    /// `GET /{template-id}`.
    pub async fn get_template(&self, template_id: &str) -> Result<MetaTemplate, GraphError> {
        let url = self.url(&urlencoding::encode(template_id));
        let v = self.call(self.http.get(url).query(&[("fields", "id,name,language,status,category,components,rejected_reason")])).await?;
        serde_json::from_value(v).map_err(|e| GraphError::Transport(format!("unexpected template answer: {e}")))
    }

    /// Every template of the WABA, following `paging.next` (only on the same origin as the
    /// base URL: the access token is never sent elsewhere).
    pub async fn list_templates(&self) -> Result<Vec<MetaTemplate>, GraphError> {
        let own = origin(&self.base_url);
        let mut out = Vec::new();
        let mut req = self.http.get(self.url(&format!("{}/message_templates", self.waba_id))).query(&[
            ("fields", "id,name,language,status,category,components,rejected_reason"),
            ("limit", "100"),
        ]);
        for _ in 0..MAX_PAGES {
            let v = self.call(req).await?;
            let page: Vec<MetaTemplate> = serde_json::from_value(v.get("data").cloned().unwrap_or(Value::Array(vec![])))
                .map_err(|e| GraphError::Transport(format!("unexpected template list: {e}")))?;
            out.extend(page);
            match v.get("paging").and_then(|p| p.get("next")).and_then(Value::as_str) {
                Some(next) if own.is_some() && origin(next) == own => req = self.http.get(next),
                Some(next) => return Err(GraphError::Transport(format!("paging.next points to another host: {next}"))),
                None => return Ok(out),
            }
        }
        Err(GraphError::Transport(format!("more than {MAX_PAGES} pages of templates")))
    }

    /// `DELETE /{waba-id}/message_templates?name=` (every language of the name), or only the
    /// one template id with `hsm_id`.
    pub async fn delete_template(&self, name: &str, hsm_id: Option<&str>) -> Result<(), GraphError> {
        let mut query = vec![("name", name)];
        if let Some(id) = hsm_id {
            query.push(("hsm_id", id));
        }
        self.call(self.http.delete(self.url(&format!("{}/message_templates", self.waba_id))).query(&query)).await.map(|_| ())
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!("{}://{}{}", u.scheme(), u.host_str()?, u.port().map(|p| format!(":{p}")).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(origin("http://127.0.0.1:8080/v23.0/x?after=1").as_deref(), Some("http://127.0.0.1:8080"));
        assert_ne!(origin("https://graph.facebook.com/v23.0"), origin("https://evil.test/v23.0"));
        assert_eq!(origin("not a url"), None);
    }
}
