//! The `warden` command: runs the server, bootstraps an organization, and talks to a running
//! server as a client (`warden policies list`, `warden check ...`).

mod remote;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use warden_model::{Catalogue, Name};
use warden_server::config::FileConfig;

mod bench_http;

/// Warden: role-based access control for multi-tenant platforms.
#[derive(Parser)]
#[command(name = "warden", version, about)]
struct Cli {
    #[command(flatten)]
    remote: remote::RemoteArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create an organization with its first Owner and print an Owner API key.
    Bootstrap(BootstrapArgs),
    /// Print the catalogue in force (permissions and predefined roles) and exit.
    Catalog(StorageArgs),
    /// Print a shell completion script: `warden completions bash > /etc/bash_completion.d/warden`.
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Remote(remote::RemoteCommand),
    /// Benchmarks of a running server.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Create a data set through the API, then drive single and batch checks and the
    /// constant-answer floor on keep-alive connections; print throughput, p50 and p99.
    Http(bench_http::HttpArgs),
}

/// Settings shared by the commands that open the database. Each falls back to the config
/// file, then to its default.
#[derive(Args, Clone)]
struct StorageArgs {
    /// A TOML config file; flags and `WARDEN_*` variables override what it says.
    #[arg(long, env = "WARDEN_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`
    /// (the database must exist). Default `sqlite://warden.db`.
    #[arg(long, env = "WARDEN_DATABASE_URL")]
    database: Option<String>,
    /// The catalogue: `llmops` (default), `arize`, `adaptive`, or the path of a TOML file.
    #[arg(long, env = "WARDEN_CATALOG")]
    catalog: Option<String>,
}

/// The settings in force once every layer is applied.
struct Settings {
    file: FileConfig,
    database: String,
    catalog: String,
}

impl StorageArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file `{}`", path.display()))?;
                FileConfig::parse(&path.display().to_string(), &text)
                    .map_err(|e| anyhow::anyhow!("invalid config: {e}"))?
            }
            None => FileConfig::default(),
        };
        let database = self
            .database
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| "sqlite://warden.db".into());
        let catalog = self
            .catalog
            .clone()
            .or_else(|| file.catalog.clone())
            .unwrap_or_else(|| "llmops".into());
        Ok(Settings {
            file,
            database,
            catalog,
        })
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on. Default `127.0.0.1:8080`.
    #[arg(long, env = "WARDEN_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Args)]
struct BootstrapArgs {
    /// Name of the organization to create.
    #[arg(long)]
    org: String,
    /// Email of its first Owner (created if new).
    #[arg(long)]
    owner_email: String,
    /// A file whose first line is the Owner's password, to sign in to the console with
    /// (at least 8 characters). Or set `WARDEN_OWNER_PASSWORD`.
    #[arg(long, conflicts_with = "owner_password_env")]
    owner_password_file: Option<PathBuf>,
    #[arg(
        long = "owner-password-env",
        env = "WARDEN_OWNER_PASSWORD",
        hide = true
    )]
    owner_password_env: Option<String>,
    #[command(flatten)]
    storage: StorageArgs,
}

/// The Owner's password given to `bootstrap`, if any, checked as invitations check theirs.
fn owner_password(args: &BootstrapArgs) -> anyhow::Result<Option<String>> {
    let password = match (&args.owner_password_file, &args.owner_password_env) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file `{}`", path.display()))?;
            Some(text.lines().next().unwrap_or_default().to_owned())
        }
        (None, Some(p)) => Some(p.clone()),
        (None, None) => None,
    };
    if let Some(p) = &password {
        let n = p.chars().count();
        if !(warden_server::routes::invitations::PASSWORD_MIN
            ..=warden_server::routes::invitations::PASSWORD_MAX)
            .contains(&n)
        {
            anyhow::bail!(
                "the Owner's password must have {} to {} characters; it has {n}",
                warden_server::routes::invitations::PASSWORD_MIN,
                warden_server::routes::invitations::PASSWORD_MAX
            );
        }
    }
    Ok(password)
}

/// A database URL as messages show it: a password it holds is replaced by `***`.
fn shown_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => match url[start..start + at].find(':') {
            Some(colon) => format!("{}***{}", &url[..start + colon + 1], &url[start + at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Loads a built-in catalogue by name or a TOML file by path.
fn load_catalogue(spec: &str) -> anyhow::Result<Arc<Catalogue>> {
    if let Some(cat) = Catalogue::preset(spec) {
        return Ok(Arc::new(cat));
    }
    let path = PathBuf::from(spec);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read the catalogue `{spec}`: give `llmops`, `arize`, `adaptive` or the path of a TOML file")
    })?;
    let cat = Catalogue::parse(&path.display().to_string(), &text)
        .map_err(|e| anyhow::anyhow!("invalid catalogue: {e}"))?;
    Ok(Arc::new(cat))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal only, not for a log file or the journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Remote(cmd) => remote::run(&cli.remote, cmd).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "warden", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
            Ok(0)
        }
        Command::Serve(args) => {
            init_tracing();
            let settings = args.storage.settings()?;
            let listen: SocketAddr = match (args.listen, &settings.file.listen) {
                (Some(l), _) => l,
                (None, Some(l)) => l.parse().with_context(|| {
                    format!("`listen` in the config file is not an address: `{l}`")
                })?,
                (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
            };
            let catalogue = load_catalogue(&settings.catalog)?;
            let mut config = warden_server::ServerConfig::new(settings.database.clone(), catalogue);
            config.auth = settings.file.auth.clone();
            if let Some(h) = settings.file.invitation_lifetime_hours {
                config.invitation_lifetime = std::time::Duration::from_secs(h.saturating_mul(3600));
            }
            if let Some(ms) = settings.file.follow_interval_ms {
                if ms == 0 {
                    anyhow::bail!("`follow_interval_ms` in the config file must be at least 1");
                }
                config.follow_every = std::time::Duration::from_millis(ms);
            }
            if let Some(ms) = settings.file.consistency_wait_ms {
                config.consistency_wait = std::time::Duration::from_millis(ms);
            }
            settings
                .file
                .limits
                .apply(&mut config)
                .map_err(|e| anyhow::anyhow!(e))?;
            config.trusted_proxies =
                warden_server::client_addr::TrustedProxies::parse(&settings.file.trusted_proxies)
                    .map_err(|e| anyhow::anyhow!("in the config file: {e}"))?;
            let app = warden_server::build(config).await.with_context(|| {
                format!(
                    "cannot open the database `{}`",
                    shown_url(&settings.database)
                )
            })?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| {
                    format!("cannot listen on {listen}: is another process using it? pass --listen")
                })?;
            eprintln!("warden listening on http://{}", listener.local_addr()?);
            app.serve(listener, shutdown_signal()).await?;
            Ok(0)
        }
        Command::Bootstrap(args) => {
            let settings = args.storage.settings()?;
            let catalogue = load_catalogue(&settings.catalog)?;
            let name = Name::parse("org", &args.org).map_err(|e| anyhow::anyhow!("{e}"))?;
            let store = warden_store::Store::open(&settings.database, catalogue)
                .await
                .with_context(|| {
                    format!(
                        "cannot open the database `{}`",
                        shown_url(&settings.database)
                    )
                })?;
            let password = owner_password(&args)?;
            let result = store
                .bootstrap_with_password(&name, &args.owner_email, password.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store.close().await;
            eprintln!(
                "created organization `{}` ({}) with Owner {} ({}){}; its Owner API key follows, shown only once:",
                name.as_str(),
                result.org_id,
                args.owner_email.trim(),
                result.user_id,
                if password.is_some() { ", who can sign in to the console at /console" } else { "" }
            );
            println!("{}", result.secret);
            Ok(0)
        }
        Command::Bench(BenchCommand::Http(args)) => bench_http::run(args).await.map(|()| 0),
        Command::Catalog(args) => {
            use std::io::Write;
            let cat = load_catalogue(&args.settings()?.catalog)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "catalogue `{}`: {}", cat.name, cat.description)?;
            for kind in [
                warden_model::ScopeKind::Org,
                warden_model::ScopeKind::Project,
            ] {
                let sc = cat.scope(kind);
                writeln!(out, "\n{kind} scope: {} permissions", sc.permissions.len())?;
                for (res, actions) in &sc.resources {
                    writeln!(out, "  {res}: {}", actions.join(", "))?;
                }
                for r in &sc.roles {
                    writeln!(
                        out,
                        "  role {} ({}): {} permissions",
                        r.name,
                        r.key,
                        sc.role_grants(r).len()
                    )?;
                }
            }
            Ok(0)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, so that scripts can log it as is.
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Whether `e` comes from writing to a standard output whose reader has gone.
fn stdout_closed(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn a_database_password_is_never_shown() {
        assert_eq!(
            shown_url("postgres://warden:s3cret@db:5432/warden"),
            "postgres://warden:***@db:5432/warden"
        );
        assert_eq!(
            shown_url("postgres://warden@db/warden?sslmode=require"),
            "postgres://warden@db/warden?sslmode=require"
        );
        assert_eq!(shown_url("sqlite://warden.db"), "sqlite://warden.db");
        assert_eq!(shown_url("warden.db"), "warden.db");
    }
}
