//! `gc dashboard`: a versioned JSON API over the city (`/api/v1`), its events as Server-Sent
//! Events, and one page over that API, served from the binary. Reads go through the same
//! functions as the CLI's listings; actions through the same code paths as the CLI's verbs,
//! each recorded as an event.

mod api;
pub mod auth;
mod stream;
mod work;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::{get, post};

pub use auth::{ACTION_HEADER, load_or_create_token, token_path};

/// The page, served as it is (no build step).
const PAGE: &str = include_str!("page.html");

/// What every handler shares.
pub struct Shared {
    /// The city directory (absolute).
    pub city_dir: PathBuf,
    token: String,
    loopback: bool,
    feed: stream::Feed,
}

/// The dashboard's routes over the city in `city_dir`, with `token` required as
/// [`auth::authorize`] says (`loopback`: whether it listens on loopback only).
pub fn router(city_dir: &Path, token: String, loopback: bool) -> Router {
    let shared = Arc::new(Shared {
        city_dir: city_dir.to_path_buf(),
        token,
        loopback,
        feed: stream::Feed::start(city_dir),
    });
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/agents", get(api::agents))
        .route("/api/v1/sessions", get(api::sessions))
        .route("/api/v1/sessions/{name}/screen", get(api::screen))
        .route("/api/v1/sessions/{name}/nudge", post(api::nudge))
        .route("/api/v1/sessions/{name}/answer", post(api::answer))
        .route("/api/v1/sessions/{name}/{action}", post(api::session_action))
        .route("/api/v1/resources/{kind}", get(work::resources))
        .route("/api/v1/agents/{name}/changes", get(work::changes))
        .route("/api/v1/beads", get(work::beads))
        .route("/api/v1/beads/{id}", get(work::bead))
        .route("/api/v1/beads/{id}/close", post(work::close_bead))
        .route("/api/v1/molecules", get(work::molecules))
        .route("/api/v1/convoys", get(work::convoys))
        .route("/api/v1/mail", get(work::mail))
        .route("/api/v1/sling", post(work::sling))
        .route("/api/v1/costs", get(api::costs))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/events/stream", get(api::stream))
        .fallback(|| async { api::error(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// Refuses what [`auth::authorize`] refuses, before any handler runs.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let access = if request.method() == Method::GET || request.method() == Method::HEAD {
        auth::Access::Read
    } else {
        auth::Access::Act
    };
    // Listening on loopback, only requests addressed to loopback are served (DNS rebinding).
    if shared.loopback {
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !auth::is_loopback_host(host) {
            return api::error(
                StatusCode::FORBIDDEN,
                format!("host `{host}` is not this machine's loopback"),
            );
        }
    }
    let presented = presented_token(request.headers(), request.uri());
    let action_header = request.headers().contains_key(ACTION_HEADER);
    match auth::authorize(
        access,
        shared.loopback,
        &shared.token,
        presented.as_deref(),
        action_header,
    ) {
        Ok(()) => next.run(request).await,
        Err(denied) => {
            let code = match denied {
                auth::Denied::Token => StatusCode::UNAUTHORIZED,
                auth::Denied::ActionHeader => StatusCode::FORBIDDEN,
            };
            api::error(code, denied.message().into())
        }
    }
}

/// The token a request carries: `Authorization: Bearer TOKEN`, else `?token=TOKEN` (what an
/// `EventSource` and a first page load can send).
fn presented_token(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some(token.trim().to_owned());
    }
    let Query(query) =
        Query::<std::collections::HashMap<String, String>>::try_from_uri(uri).ok()?;
    query.get("token").cloned()
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    city_dir: &Path,
    token: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let loopback = listener.local_addr()?.ip().is_loopback();
    let app = router(city_dir, token, loopback);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
