//! The `/api/v1` handlers. Each reads or acts through the function the CLI uses for the same
//! thing, on the blocking pool (they read files and talk to tmux).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Shared;
use crate::controllers::model::CityModel;
use crate::controllers::nudge::{self, Delivery, Sending, Sent};
use crate::controllers::reconcile::Context;

/// An error answer: its status code and message.
pub type Failure = (StatusCode, String);

/// A JSON error body: `{"error": "…"}`.
pub fn error(code: StatusCode, message: String) -> Response {
    (code, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Runs `work` on the blocking pool and answers with its value as JSON, or its error.
pub async fn blocking<T: Serialize + Send + 'static>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err((code, message))) => error(code, message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// A failure that is gc's, not the request's.
pub fn internal(e: impl std::fmt::Display) -> Failure {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `GET /api/v1/status`: what `gc status -o json` shows.
pub async fn status(State(shared): State<Arc<Shared>>) -> Response {
    blocking(move || crate::cli::status::city_view(&shared.city_dir).map_err(internal)).await
}

/// `GET /api/v1/agents`: each agent with its typed status.
pub async fn agents(State(shared): State<Arc<Shared>>) -> Response {
    blocking(move || {
        let view = crate::cli::status::city_view(&shared.city_dir).map_err(internal)?;
        Ok(view.agents)
    })
    .await
}

/// `GET /api/v1/costs?since=24h&by=model`: what `gc costs -o json` shows.
pub async fn costs(State(shared): State<Arc<Shared>>, Query(q): Query<CostsQuery>) -> Response {
    blocking(move || {
        let since = match &q.since {
            Some(text) => Some(
                crate::cli::parse_since(text, chrono::Utc::now())
                    .map_err(|e| (StatusCode::BAD_REQUEST, e))?,
            ),
            None => None,
        };
        crate::cli::costs_report(&shared.city_dir, since, q.by.unwrap_or_default())
            .map_err(internal)
    })
    .await
}

/// `?since=&by=` of `/api/v1/costs`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostsQuery {
    since: Option<String>,
    by: Option<crate::usage::report::By>,
}

/// `GET /api/v1/sessions`: what `gc session list -o json` shows.
pub async fn sessions(State(shared): State<Arc<Shared>>) -> Response {
    blocking(move || {
        let (ctx, model) = context(&shared)?;
        crate::cli::session::list_rows(&ctx, &model).map_err(internal)
    })
    .await
}

/// `?lines=N`.
#[derive(Deserialize)]
pub struct Lines {
    lines: Option<usize>,
}

/// A session's screen.
#[derive(Serialize)]
struct Screen {
    session: String,
    screen: String,
}

/// `GET /api/v1/sessions/{name}/screen?lines=N`: what `gc session peek` prints (default 40
/// lines, at most 2000). `name` is a session or an agent.
pub async fn screen(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<Lines>,
) -> Response {
    blocking(move || {
        let (ctx, model) = context(&shared)?;
        let session = session_of(&model, &name)?;
        let screen = ctx
            .runtime
            .peek(&session, q.lines.unwrap_or(40).min(2000))
            .map_err(|e| (StatusCode::NOT_FOUND, format!("cannot read {session}'s screen: {e}")))?;
        Ok(Screen { session, screen })
    })
    .await
}

/// `POST /api/v1/sessions/{name}/nudge` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NudgeBody {
    text: String,
    /// `wait-idle` (default), `immediate` or `queue`.
    #[serde(default)]
    delivery: Option<String>,
}

/// What became of a nudge.
#[derive(Serialize)]
struct Nudged {
    session: String,
    /// `delivered` or `queued`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// `POST /api/v1/sessions/{name}/nudge`: `gc session nudge` (the same sender, the same
/// events).
pub async fn nudge(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Json(body): Json<NudgeBody>,
) -> Response {
    blocking(move || {
        // The CLI's own names for the deliveries (`--delivery`).
        let delivery = match body.delivery.as_deref() {
            None => Delivery::default(),
            Some(name) => <Delivery as clap::ValueEnum>::from_str(name, false).map_err(|_| {
                let what = "is not one of wait-idle, immediate, queue";
                (StatusCode::BAD_REQUEST, format!("delivery `{name}` {what}"))
            })?,
        };
        if body.text.trim().is_empty() {
            return Err((StatusCode::BAD_REQUEST, "the text is empty".into()));
        }
        let (ctx, model) = context(&shared)?;
        let session = session_of(&model, &name)?;
        let how = Sending {
            delivery,
            wait: Duration::from_secs(30),
            ttl: Duration::from_secs(3600),
            from: "dashboard".into(),
        };
        let sent = nudge::send_recorded(
            &shared.city_dir,
            &model,
            ctx.runtime.as_ref(),
            &session,
            &body.text,
            &how,
        )
        .map_err(|e| (StatusCode::CONFLICT, e.to_string()))?;
        Ok(match sent {
            Sent::Delivered => Nudged { session, outcome: "delivered", id: None },
            Sent::Queued(queued) => Nudged { session, outcome: "queued", id: Some(queued.id) },
        })
    })
    .await
}

/// `?after=SEQ&limit=N`.
#[derive(Deserialize)]
pub struct EventsQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/events?after=SEQ&limit=N`: the events after `after` (all of them, up to
/// `limit`), else the latest `limit` (default 100).
pub async fn events(State(shared): State<Arc<Shared>>, Query(q): Query<EventsQuery>) -> Response {
    blocking(move || {
        let limit = q.limit.unwrap_or(100).min(10_000);
        let mut events = match q.after {
            Some(after) => crate::events::read_since(&shared.city_dir, after).map_err(internal)?,
            None => crate::events::read_last(&shared.city_dir, limit).map_err(internal)?,
        };
        events.truncate(limit);
        Ok(events)
    })
    .await
}

/// `GET /api/v1/events/stream`: Server-Sent Events, each an event with its `seq` as id.
/// Resumes after `Last-Event-ID` (or `?after=SEQ`); without either, only new events.
pub async fn stream(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(q.after);
    shared.feed.sse(after).into_response()
}

/// The runtime and the applied city, as the CLI's session commands set them up.
fn context(shared: &Shared) -> Result<(Context, CityModel), Failure> {
    Context::with_model(&shared.city_dir, "gc dashboard").map_err(internal)
}

/// The session `name` names (a session, or an agent's first session), checked.
fn session_of(model: &CityModel, name: &str) -> Result<String, Failure> {
    crate::cli::session::resolve(model, name).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

/// `POST /api/v1/sessions/{name}/{action}` for `stop`, `start` and `reset` (`?fresh=true`):
/// `gc session stop|start|reset`, recorded as events.
pub async fn session_action(
    State(shared): State<Arc<Shared>>,
    Path((name, action)): Path<(String, String)>,
    Query(q): Query<Fresh>,
) -> Response {
    blocking(move || {
        let (ctx, model) = context(&shared)?;
        let failed = |e: Box<dyn std::error::Error>| (StatusCode::CONFLICT, e.to_string());
        let lines = match action.as_str() {
            "reset" => {
                // `name` may be an agent (every session of a pool) or a session.
                crate::runtime::validate_name(&name)
                    .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
                crate::cli::session::reset::run(
                    &shared.city_dir,
                    &model,
                    &name,
                    q.fresh,
                    "dashboard",
                )
                .map_err(failed)?
            }
            "stop" => {
                let session = session_of(&model, &name)?;
                vec![
                    crate::cli::session::actions::stop(&ctx, &model, &session, "dashboard")
                        .map_err(failed)?,
                ]
            }
            "start" => {
                let session = session_of(&model, &name)?;
                vec![
                    crate::cli::session::actions::start(&ctx, &model, &session, "dashboard")
                        .map_err(failed)?,
                ]
            }
            other => return Err((StatusCode::NOT_FOUND, format!("no session action `{other}`"))),
        };
        Ok(Said { messages: lines })
    })
    .await
}

/// `?fresh=true`.
#[derive(Deserialize)]
pub struct Fresh {
    #[serde(default)]
    fresh: bool,
}

/// What an action did, line by line (as the CLI prints it).
#[derive(Serialize)]
struct Said {
    messages: Vec<String>,
}

/// `POST /api/v1/sessions/{name}/answer` body: text typed literally, then keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    #[serde(default)]
    text: Option<String>,
    /// `enter`, `up`, `down`; default `["enter"]`.
    #[serde(default)]
    keys: Option<Vec<String>>,
}

/// `POST /api/v1/sessions/{name}/answer`: `gc session answer` (a `session.answered` event):
/// how a person answers a Blocked session from the page.
pub async fn answer(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Json(body): Json<AnswerBody>,
) -> Response {
    use crate::cli::session::actions::{self, Keystroke};
    blocking(move || {
        let mut strokes: Vec<Keystroke> =
            body.text.into_iter().filter(|t| !t.is_empty()).map(Keystroke::Text).collect();
        for key in body.keys.unwrap_or_else(|| vec!["enter".into()]) {
            let key = Keystroke::parse_key(&key).ok_or_else(|| {
                (StatusCode::BAD_REQUEST, format!("key `{key}` is not one of enter, up, down"))
            })?;
            strokes.push(Keystroke::Key(key));
        }
        let (ctx, model) = context(&shared)?;
        let session = session_of(&model, &name)?;
        let said = actions::answer(&ctx, &model, &session, &strokes, "dashboard")
            .map_err(|e| (StatusCode::CONFLICT, e.to_string()))?;
        Ok(Said { messages: vec![said] })
    })
    .await
}
