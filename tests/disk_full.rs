//! The disk fills up (a small tmpfs mounted for the test; it skips, saying why, where mounting
//! is not allowed): sends get 503 with `Retry-After` and the envelope, bulk sends too, nothing
//! acknowledged is lost (every message answered 200 before, during or after is sent), and
//! the engine takes sends again as soon as space returns, without a restart.

mod common;

use common::*;
use jood::domain::ProviderKind;
use jood::sim::{SimConfig, Simulator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size_mib: u64) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("jood-diskfull-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("mount -t tmpfs refused: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Self(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_bytes(p: &Path) -> u64 {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// Fills the filesystem of `dir` until `leave` bytes are free; returns the filler's path.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let free = free_bytes(dir);
    let len = free.saturating_sub(leave);
    let f = std::fs::OpenOptions::new().create(true).append(true).open(&filler).unwrap();
    // Written, not just sized: tmpfs counts only pages that hold data.
    let chunk = vec![0xa5u8; 1 << 20];
    let mut w = std::io::BufWriter::new(f);
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        std::io::Write::write_all(&mut w, &chunk[..n]).unwrap();
        left -= n as u64;
    }
    std::io::Write::flush(&mut w).unwrap();
    filler
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_loses_nothing_and_recovers() {
    let fs = match Tmpfs::mount(160) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED a_full_disk_answers_503_loses_nothing_and_recovers: {why}");
            return;
        }
    };
    let sim = Simulator::start("127.0.0.1:0", SimConfig { record_requests: 1_000, invalid_number_suffix: String::new(), ..SimConfig::default() }).await.unwrap();
    let data = fs.0.join("data");
    const RESERVE: u64 = 24 * 1024 * 1024;
    let s = TestServer::start_in(tempfile::tempdir().unwrap(), |c| {
        c.store.data_dir = data.clone();
        c.store.min_free_bytes = RESERVE;
        c.store.memtable_mib = 2;
        c.rate_limit.enabled = false;
    })
    .await;
    let k = s.create_association(1, "Disk").await;
    let cred = json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "ACdisk", "authToken": "t"}, "apiUrl": sim.base_url(), "isDefault": true});
    s.add_credential(1, &k, cred).await;

    let mut acked = Vec::new();
    let phone = |i: usize| format!("+96650{:07}", 4_000_000 + i);
    for i in 0..20 {
        acked.push(s.send_sms(1, &k.secret_key, &phone(i), "before").await);
    }

    // Below the reserve: single and bulk sends are refused with 503 and Retry-After.
    let filler = fill(&fs.0, RESERVE / 2);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the space reading is cached 200 ms
    let body = json!({"associationId": 1, "recipient": phone(100), "message": "while full"}).to_string();
    let resp = s.signed("/api/v1/webhook/notification", &k.secret_key, &body).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let retry_after: u64 = resp.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["success"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("unavailable"), "{v}");
    let bulk = json!({"associationId": 1, "message": "bulk while full", "recipients": [phone(101), phone(102)]}).to_string();
    let resp = s.signed("/api/v1/webhook/bulk", &k.secret_key, &bulk).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    // The engine itself is still up and answering.
    assert_eq!(s.client.get(s.url("/healthz")).send().await.unwrap().status(), 200);

    // Space returns: sends are taken again, with no restart.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the space reading is cached 200 ms
    for i in 20..40 {
        acked.push(s.send_sms(1, &k.secret_key, &phone(i), "after").await);
    }
    // Every acknowledged message is sent, exactly the acknowledged ones reach the provider.
    for id in &acked {
        let m = s.wait_terminal(&k, *id, 30).await;
        assert_eq!(m["status"], "sent", "{m}");
    }
    let to: std::collections::HashSet<String> =
        sim.requests(ProviderKind::Twilio).iter().map(|r| r.body["To"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(to.len(), acked.len(), "only the acknowledged messages were sent");
    assert!(!to.contains(&phone(100)) && !to.contains(&phone(101)), "refused sends were not stored");
    let dir = s.stop().await;
    drop(dir);
    // And they survive a restart on the same directory.
    let s = TestServer::start_in(tempfile::tempdir().unwrap(), |c| c.store.data_dir = data.clone()).await;
    for id in &acked {
        assert!(s.store.get_message(*id).await.unwrap().unwrap().status.was_sent());
    }
    s.stop().await;
    drop(fs);
}
