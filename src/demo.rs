//! Demo mode (`jood serve --demo`): the engine on its embedded defaults plus the provider
//! simulator on loopback, a demo association with credentials pointing at the simulator, and
//! its keys and a ready-to-run signed `curl` printed at start. For trying Jood out: the keys
//! are kept in the data directory in clear (`demo-association.json`), never do this in
//! production.

use crate::directory::{CredentialInput, CredentialPatch, Directory, NewAssociation};
use crate::sim::{SimConfig, SimHandle, Simulator};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

pub const DEMO_ASSOCIATION_ID: i64 = 1;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoKeys {
    association_id: i64,
    api_key: String,
    secret_key: String,
    admin_api_key: String,
}

/// Starts the simulator (a little latency, like a real provider) on a free loopback port.
pub async fn start_simulator() -> anyhow::Result<SimHandle> {
    Simulator::start("127.0.0.1:0", SimConfig { latency_ms: 20, latency_jitter_ms: 30, ..SimConfig::default() }).await
}

/// Creates (first start) or refreshes (later starts) the demo association and its two
/// credentials, pointed at the simulator, and prints how to send.
pub async fn provision(directory: &Directory, data_dir: &Path, sim: &SimHandle, http: SocketAddr) -> anyhow::Result<()> {
    let path = data_dir.join("demo-association.json");
    let keys = match std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<DemoKeys>(&b).ok()) {
        Some(k) => k,
        None => {
            let keys = match directory
                .create_association(NewAssociation { id: DEMO_ASSOCIATION_ID, name: "Demo Association".into(), allowed_domains: vec![] })
                .await
            {
                Ok(c) => DemoKeys { association_id: c.record.id, api_key: c.api_key, secret_key: c.secret_key, admin_api_key: c.admin_api_key },
                Err(crate::directory::DirectoryError::Conflict(_)) => {
                    // The association exists but its keys were not kept: issue new ones.
                    let r = directory.rotate_keys(DEMO_ASSOCIATION_ID, true, true, true).await?;
                    DemoKeys {
                        association_id: DEMO_ASSOCIATION_ID,
                        api_key: r.api_key.unwrap_or_default(),
                        secret_key: r.secret_key.unwrap_or_default(),
                        admin_api_key: r.admin_api_key.unwrap_or_default(),
                    }
                }
                Err(e) => return Err(e.into()),
            };
            std::fs::write(&path, serde_json::to_vec_pretty(&keys)?).with_context(|| format!("writing {}", path.display()))?;
            keys
        }
    };
    let sim_url = sim.base_url();
    let existing = directory.list_credentials(DEMO_ASSOCIATION_ID).await?;
    let wanted = [
        (7, "JOOD", serde_json::json!({"accountSid": "ACdemo", "authToken": "demo-token"}), true),
        (6, "JOOD", serde_json::json!({"apiKey": "demo-infobip-key"}), false),
    ];
    for (provider_id, sender, creds, is_default) in wanted {
        let creds = creds.as_object().expect("object").clone();
        match existing.iter().find(|c| c.provider_id == provider_id) {
            Some(c) => {
                let patch = CredentialPatch { api_url: Some(Some(sim_url.clone())), ..Default::default() };
                directory.update_credential(DEMO_ASSOCIATION_ID, c.id, patch).await?;
            }
            None => {
                let input = CredentialInput {
                    provider_id,
                    sender_name: sender.into(),
                    credentials: creds,
                    api_url: Some(sim_url.clone()),
                    is_default,
                };
                directory.add_credential(DEMO_ASSOCIATION_ID, input).await?;
            }
        }
    }
    println!(
        r#"
Jood demo is running.
  API:        http://{http}
  Simulator:  {sim_url}  (provider endpoints; stats at {sim_url}/_sim/stats)
  Association {id}: apiKey={api} secretKey={secret} adminApiKey={admin}

Send a signed SMS (the documented bash example):
  TIMESTAMP=$(date +%s%3N)
  BODY='{{"associationId":{id},"recipient":"+966501234567","message":"Hello from Jood!"}}'
  SIGNATURE=$(echo -n "${{TIMESTAMP}}.${{BODY}}" | openssl dgst -sha256 -hmac '{secret}' | awk '{{print $2}}')
  curl -s -X POST http://{http}/api/v1/webhook/notification -H 'Content-Type: application/json' \
    -H "X-Webhook-Timestamp: $TIMESTAMP" -H "X-Webhook-Signature: $SIGNATURE" -d "$BODY"

Then look it up (replace QUEUE_ID with the queueId answered):
  curl -s http://{http}/api/v1/notifications/QUEUE_ID -H 'x-api-key: {api}' -H 'x-api-secret: {secret}'
"#,
        id = keys.association_id,
        api = keys.api_key,
        secret = keys.secret_key,
        admin = keys.admin_api_key,
    );
    Ok(())
}
