//! Warden's HTTP server: the JSON API, authentication, authorization through the engine,
//! error mapping and start-up.
//!
//! Start-up is library code: [`build`] opens the store, loads the engine and returns an
//! [`App`]; [`App::serve`] runs it on a listener until the shutdown future resolves. Tests
//! and the `warden` binary use the same two calls.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use warden_model::Catalogue;
use warden_store::Store;

pub mod auth;
pub mod client_addr;
pub mod config;
pub mod console;
pub mod error;
pub mod extract;
mod keycache;
pub mod limits;
mod listen;
pub mod openapi;
pub mod respond;
pub mod routes;
pub mod state;
pub mod throttle;

pub use state::{AppState, InvitationSettings};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `sqlite://PATH`, a file path, or `postgres://USER@HOST:PORT/DB` (PostgreSQL).
    pub database: String,
    /// The catalogue in force.
    pub catalogue: Arc<Catalogue>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The longest a request may take.
    pub request_timeout: Duration,
    /// How often the change log is polled for writes made by other processes (on PostgreSQL
    /// the follower is also woken by each commit's notification).
    pub follow_every: Duration,
    /// How long an invitation stays valid.
    pub invitation_lifetime: Duration,
    /// Who gets what on arrival.
    pub auth: config::AuthSettings,
    /// How long a decision asking for a `min_revision` the engine has not reached waits
    /// before it is answered 503.
    pub consistency_wait: Duration,
    /// The largest request head (request line and headers) accepted, in bytes (431 past it).
    pub max_header_bytes: usize,
    /// The longest a connection may take to send a request's head, idle time between
    /// requests included; hyper closes it past that. Above the 60 s that load balancers
    /// commonly keep idle upstream connections, so that they close them first.
    pub header_read_timeout: Duration,
    /// Requests handled at once; one more is refused (503 `overloaded`), not queued.
    pub max_concurrent_requests: usize,
    /// Failed API key authentications allowed per client address within a minute before
    /// its requests are refused (429).
    pub failed_auth_limit: u32,
    /// Proxies whose `X-Forwarded-For` names the client (for the throttle of failed
    /// authentications); none by default.
    pub trusted_proxies: client_addr::TrustedProxies,
}

impl ServerConfig {
    /// Defaults for a database URL and a catalogue.
    pub fn new(database: impl Into<String>, catalogue: Arc<Catalogue>) -> Self {
        ServerConfig {
            database: database.into(),
            catalogue,
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            follow_every: Duration::from_millis(500),
            invitation_lifetime: Duration::from_secs(7 * 24 * 3600),
            auth: config::AuthSettings::default(),
            consistency_wait: Duration::from_secs(2),
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(75),
            max_concurrent_requests: 1024,
            failed_auth_limit: 30,
            trusted_proxies: client_addr::TrustedProxies::default(),
        }
    }
}

/// A built server, ready to serve.
pub struct App {
    pub state: AppState,
    config: ServerConfig,
}

/// Opens the store, loads the engine.
pub async fn build(config: ServerConfig) -> Result<App, warden_store::StoreError> {
    let store = Store::open(&config.database, config.catalogue.clone()).await?;
    let state = AppState::new(store, config.clone()).await?;
    Ok(App { state, config })
}

/// The router of every route, with the API's own answers for unknown routes and methods.
pub fn router(state: AppState, config: &ServerConfig) -> Router {
    let mut api: Router<AppState> = Router::new();
    for route in routes::table() {
        api = api.route(route.spec.path, route.handler);
    }
    let request_id = HeaderName::from_static("x-request-id");
    api.merge(console::router())
        .fallback(routes::meta::no_route)
        .method_not_allowed_fallback(routes::meta::wrong_method)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::enforce))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

impl App {
    /// Serves on `listener` until `shutdown` resolves; in-flight requests finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        self.state.spawn_follower(self.config.follow_every, stop_rx);
        let app = router(self.state.clone(), &self.config);
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        tracing::info!(?addr, "warden listening");
        // Requests in flight end within the request timeout; a little more lets their
        // answers be written.
        let drain_limit = self.config.request_timeout + Duration::from_secs(5);
        listen::run(
            listener,
            app,
            self.config.header_read_timeout,
            drain_limit,
            shutdown,
        )
        .await;
        let _ = stop_tx.send(true);
        self.state.store().close().await;
        Ok(())
    }
}
