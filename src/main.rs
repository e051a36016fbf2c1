//! The `jood` binary: parse the command line, load configuration and secrets, start logging,
//! build the app and run until SIGINT/SIGTERM.

use anyhow::Context;
use clap::{Parser, Subcommand};
use jood::app::{App, Secrets};
use jood::auth::{secrets::MASTER_KEY_HINT, AdminKey, MasterKey};
use jood::config::Config;
use std::path::{Path, PathBuf};

// glibc's malloc serialises threads on its arena locks under this load (a fifth of the
// engine's CPU in profiles); mimalloc's per-thread heaps do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "jood", version, about = "Jood notification dispatch engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine (HTTP and gRPC APIs).
    Serve(ServeArgs),
    /// Run the provider simulator: every provider's send endpoints on one loopback port.
    Sim(SimArgs),
    /// Drive the signed webhook with uniquely signed requests and report throughput.
    Loadgen(LoadgenArgs),
    /// Print a fresh random master key (hex) for JOOD_MASTER_KEY.
    Keygen,
    /// Create the ScyllaDB keyspace and apply the missing schema migrations (`store.scylla`).
    Migrate(MigrateArgs),
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// Configuration file (defaults and JOOD__SECTION__KEY variables apply as for `serve`).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
struct LoadgenArgs {
    /// Engine base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long)]
    association_id: i64,
    /// The association's secretKey (signs every request).
    #[arg(long, env = "JOOD_LOADGEN_SECRET")]
    secret: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Open loop: send this many requests per second on a fixed schedule, spread over the
    /// connections, and time each from its intended send time. Without it, each connection
    /// sends its next request as soon as the previous answer arrives.
    #[arg(long, value_name = "REQ_PER_SEC")]
    rate: Option<f64>,
    /// Simulator base URL, to report messages delivered per second from its counters.
    #[arg(long)]
    sim_url: Option<String>,
    /// Seconds to wait after the load for deliveries to catch up.
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
}

#[derive(clap::Args)]
struct SimArgs {
    /// Listen address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9090")]
    addr: String,
    /// Settings as JSON (any SimConfig fields), e.g. '{"latency_ms":50,"error_rate":0.01}'.
    #[arg(long, value_name = "JSON")]
    settings: Option<String>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file overlaid on the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address (overrides server.http_addr).
    #[arg(long, value_name = "HOST:PORT")]
    http_addr: Option<String>,
    /// gRPC listen address (overrides server.grpc_addr; "" turns gRPC off).
    #[arg(long, value_name = "HOST:PORT")]
    grpc_addr: Option<String>,
    /// Data directory of the embedded store (overrides store.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Demo mode: the provider simulator in-process, a demo association with credentials
    /// pointing at it, its keys and a signed curl printed; without JOOD_MASTER_KEY /
    /// JOOD_ADMIN_KEY, demo keys kept in the data directory (insecure: never for production).
    #[arg(long)]
    demo: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Keygen => {
            println!("{}", MasterKey::generate_hex());
            std::process::ExitCode::SUCCESS
        }
        Command::Loadgen(a) => {
            let spec = jood::loadgen::LoadSpec {
                url: a.url,
                association_id: a.association_id,
                secret: a.secret,
                concurrency: a.concurrency.max(1),
                duration: std::time::Duration::from_secs(a.duration_secs),
                rate: a.rate,
                sim_url: a.sim_url,
                drain: std::time::Duration::from_secs(a.drain_secs),
            };
            // One thread: the generator needs a fraction of a core, and a second worker thread
            // would only add cross-thread wake-ups taken from the engine it measures.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            match rt.block_on(jood::loadgen::run(spec)) {
                Ok(report) => {
                    report.print();
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("jood loadgen: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Migrate(args) => match migrate(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("jood migrate: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Sim(args) => match sim(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("jood sim: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Serve(args) => match serve(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("jood: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(a) = args.http_addr {
        config.server.http_addr = a;
    }
    if let Some(a) = args.grpc_addr {
        config.server.grpc_addr = a;
    }
    if let Some(d) = args.data_dir {
        config.store.data_dir = d;
    }
    if args.demo && config.server.public_url.is_empty() {
        // The in-process simulator reports deliveries back to the engine, so the demo follows
        // each message to `delivered` (a real deployment sets its own public URL).
        if let Ok(mut addr) = config.server.http_addr.parse::<std::net::SocketAddr>() {
            if addr.port() != 0 {
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                config.server.public_url = format!("http://{addr}");
            }
        }
    }
    config.validate()?;
    jood::telemetry::init_logging(&config.log.format, &config.log.level);
    let secrets = load_secrets(&config, args.demo)?;

    let demo = args.demo;
    let data_dir = config.store.data_dir.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let sim = if demo { Some(jood::demo::start_simulator().await?) } else { None };
        let app = App::build(config, secrets).await?;
        if let Some(sim) = &sim {
            jood::demo::provision(app.directory(), &data_dir, sim, app.http_addr()).await?;
        }
        let token = app.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            token.cancel();
        });
        app.run_until_stopped().await
    })
}

fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    jood::telemetry::init_logging(&config.log.format, &config.log.level);
    let sc = config.store.scylla.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let store = jood::store::scylla::ScyllaStore::connect(sc.options(config.ids.node_id), false)
            .await
            .with_context(|| format!("connecting to ScyllaDB at {}", sc.uris.join(",")))?;
        let report = store.migrate().await?;
        println!("keyspace {}: applied migrations {:?}, already applied {:?}", sc.keyspace, report.applied, report.already);
        Ok(())
    })
}

fn sim(args: SimArgs) -> anyhow::Result<()> {
    jood::telemetry::init_logging("text", "info");
    let mut config = jood::sim::SimConfig::default();
    if let Some(json) = args.settings {
        let patch: serde_json::Value = serde_json::from_str(&json).context("--settings is not JSON")?;
        config = config.merged(&patch).map_err(|e| anyhow::anyhow!("--settings: {e}"))?;
    }
    // One thread: the simulator stands in for remote providers on the engine's own machine,
    // so it should take as little CPU as it can. A multi-threaded runtime spent a fifth of
    // its time parking and waking worker threads (futex, context switches) under load.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(jood::sim::run(&args.addr, config))
}

fn load_secrets(config: &Config, demo: bool) -> anyhow::Result<Secrets> {
    let master = match MasterKey::load(config.auth.master_key_file.as_deref()) {
        Ok(k) => k,
        Err(jood::auth::secrets::SecretError::MissingMasterKey) if demo => {
            let hex = demo_secret(&config.store.data_dir, "demo-master.key", MasterKey::generate_hex)?;
            tracing::warn!("demo mode: using a master key kept in the data directory; never do this in production");
            MasterKey::parse(&hex)?
        }
        Err(jood::auth::secrets::SecretError::MissingMasterKey) => {
            anyhow::bail!("no master key: {MASTER_KEY_HINT}; or run `jood serve --demo` to try Jood out")
        }
        Err(e) => return Err(e.into()),
    };
    let mut admin = AdminKey::load(config.auth.admin_key_file.as_deref())?;
    if admin.is_none() && demo {
        let key = demo_secret(&config.store.data_dir, "demo-admin.key", || jood::auth::keys::generate("jn_root_"))?;
        println!("demo super-admin key (send it as both x-api-key and x-api-secret): {key}");
        admin = Some(AdminKey::new(key));
    }
    let operator = load_operator(config, demo)?;
    Ok(Secrets { master, admin, operator })
}

/// The first dashboard super operator: JOOD_OPERATOR_USERNAME / JOOD_OPERATOR_PASSWORD, or
/// the configuration (username and a password file); in demo mode one is made up.
fn load_operator(config: &Config, demo: bool) -> anyhow::Result<Option<(String, String)>> {
    let env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let username = env("JOOD_OPERATOR_USERNAME").or_else(|| config.dashboard.operator_username.clone());
    let password = match env("JOOD_OPERATOR_PASSWORD") {
        Some(p) => Some(p),
        None => match &config.dashboard.operator_password_file {
            Some(f) => Some(std::fs::read_to_string(f).with_context(|| format!("reading dashboard.operator_password_file {}", f.display()))?.trim().to_string()),
            None => None,
        },
    };
    match (username, password) {
        (Some(u), Some(p)) => Ok(Some((u, p))),
        (Some(_), None) => anyhow::bail!("dashboard operator: set JOOD_OPERATOR_PASSWORD (or dashboard.operator_password_file) for the configured username"),
        (None, _) if demo => {
            let p = demo_secret(&config.store.data_dir, "demo-operator.password", || jood::auth::keys::generate("pw_"))?;
            println!("demo dashboard operator: username `admin`, password `{p}`");
            Ok(Some(("admin".into(), p)))
        }
        (None, _) => Ok(None),
    }
}

/// Reads a demo secret from the data directory, creating it on first use.
fn demo_secret(dir: &Path, name: &str, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(s.trim().to_string());
    }
    let value = make();
    std::fs::write(&path, &value).with_context(|| format!("writing {}", path.display()))?;
    Ok(value)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
