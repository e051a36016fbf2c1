//! A command-line client of the gRPC API (`jood.v1.Notifications`), built on the generated
//! client in `jood::api::grpc::pb`. Keys come from `JOOD_API_KEY` / `JOOD_API_SECRET` (an
//! association's apiKey and secretKey, or the super-admin key in both).
//!
//! ```text
//! cargo run --example grpc_client -- send --association 1 --to +966501234567 --message "Hello"
//! cargo run --example grpc_client -- get --id 243972532203520
//! cargo run --example grpc_client -- bulk --association 1 --message "Hi {{name}}" --file numbers.csv
//! cargo run --example grpc_client -- bulk --association 1 --message "Load test" --synthetic 1000000
//! cargo run --example grpc_client -- watch --campaign 243972532203520
//! ```
//!
//! `bulk` streams its recipients (`phone[,name]` per line, or N synthetic numbers) in chunks,
//! building each chunk only when the connection takes it: a million recipients never sit in
//! the client's memory either.

use clap::{Parser, Subcommand};
use jood::api::grpc::pb;
use jood::api::grpc::pb::notifications_client::NotificationsClient;
use std::io::BufRead;

#[derive(Parser)]
struct Cli {
    /// The engine's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    #[arg(long, env = "JOOD_API_KEY")]
    key: String,
    #[arg(long, env = "JOOD_API_SECRET")]
    secret: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send one SMS.
    Send {
        #[arg(long)]
        association: i64,
        #[arg(long)]
        to: String,
        #[arg(long)]
        message: String,
    },
    /// A notification's status and attempts.
    Get {
        #[arg(long)]
        id: i64,
    },
    /// Stream a campaign's recipients in chunks.
    Bulk {
        #[arg(long)]
        association: i64,
        #[arg(long)]
        message: String,
        /// Recipients, one `phone[,name]` per line (`name` fills `{{name}}`).
        #[arg(long, conflicts_with = "synthetic")]
        file: Option<std::path::PathBuf>,
        /// This many generated Saudi mobile numbers instead of a file.
        #[arg(long)]
        synthetic: Option<u64>,
        #[arg(long, default_value_t = 10_000)]
        chunk: usize,
    },
    /// Print a campaign's progress until it is completed or cancelled.
    Watch {
        #[arg(long)]
        campaign: i64,
    },
}

fn recipient(line: &str) -> pb::BulkRecipient {
    let mut parts = line.splitn(2, ',');
    let phone = parts.next().unwrap_or_default().trim().to_string();
    let variables = parts.next().map(|n| [("name".to_string(), n.trim().to_string())].into()).unwrap_or_default();
    pb::BulkRecipient { phone, variables }
}

/// A request carrying the key pair as metadata.
fn authed<T>(msg: T, key: &str, secret: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("x-api-key", key.parse()?);
    r.metadata_mut().insert("x-api-secret", secret.parse()?);
    Ok(r)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut client = NotificationsClient::connect(cli.addr.clone()).await?;
    match cli.command {
        Command::Send { association, to, message } => {
            let req = pb::SendNotificationRequest { association_id: association, recipient: to, message, ..Default::default() };
            println!("{:#?}", client.send_notification(authed(req, &cli.key, &cli.secret)?).await?.into_inner());
        }
        Command::Get { id } => {
            println!("{:#?}", client.get_notification(authed(pb::GetNotificationRequest { id }, &cli.key, &cli.secret)?).await?.into_inner());
        }
        Command::Bulk { association, message, file, synthetic, chunk } => {
            let lines: Box<dyn Iterator<Item = String> + Send> = match (file, synthetic) {
                (Some(path), _) => Box::new(std::io::BufReader::new(std::fs::File::open(path)?).lines().map_while(Result::ok)),
                (None, Some(n)) => Box::new((0..n).map(|i| format!("+9665{:08}", i % 100_000_000))),
                (None, None) => anyhow::bail!("give --file or --synthetic"),
            };
            let mut lines = lines.filter(|l| !l.trim().is_empty()).peekable();
            let mut first = Some(pb::BulkSettings { association_id: association, message, ..Default::default() });
            let chunks = std::iter::from_fn(move || {
                let recipients: Vec<_> = lines.by_ref().take(chunk.max(1)).map(|l| recipient(&l)).collect();
                let settings = first.take();
                (settings.is_some() || !recipients.is_empty()).then_some(pb::SendBulkChunk { settings, recipients })
            });
            let resp = client.send_bulk(authed(tokio_stream::iter(chunks), &cli.key, &cli.secret)?).await?.into_inner();
            println!("{resp:#?}");
        }
        Command::Watch { campaign } => {
            let req = pb::WatchCampaignRequest { campaign_id: campaign, min_interval_ms: 1000, ..Default::default() };
            let mut stream = client.watch_campaign(authed(req, &cli.key, &cli.secret)?).await?.into_inner();
            while let Some(p) = stream.message().await? {
                let status = pb::CampaignStatus::try_from(p.status).map(|s| s.as_str_name()).unwrap_or("?");
                println!("{status}: {} sent ({} delivered, {} undelivered), {} failed, {} cancelled of {}", p.sent, p.delivered, p.undelivered, p.failed, p.cancelled, p.total_recipients);
            }
        }
    }
    Ok(())
}
