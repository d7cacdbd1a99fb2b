//! The `/api/v1` handlers over work: resources, beads per rig, molecules, mail, sling, and
//! each agent's changes. Each goes through the function the CLI uses for the same thing.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::api::{Failure, blocking, internal};
use crate::beads::{Bead, BeadStore, ListQuery};
use crate::controllers::model::CityModel;
use crate::store::Store;

fn model(shared: &Shared) -> Result<CityModel, Failure> {
    CityModel::load_specs(&shared.city_dir, &Store::new(&shared.city_dir)).map_err(internal)
}

/// The applied agent `name`, or a 404.
fn agent_of<'m>(
    model: &'m CityModel,
    name: &str,
) -> Result<&'m crate::controllers::model::Applied<crate::api::agent::AgentSpec>, Failure> {
    model.agents.get(name).ok_or_else(|| (StatusCode::NOT_FOUND, format!("no agent `{name}`")))
}

/// `GET /api/v1/resources/{kind}`: what `gc get KIND -o json` lists (each with its status).
pub async fn resources(State(shared): State<Arc<Shared>>, Path(kind): Path<String>) -> Response {
    blocking(move || {
        let kind = crate::cli::parse_kind(&kind).map_err(|e| (StatusCode::NOT_FOUND, e))?;
        crate::cli::get::documents(&Store::new(&shared.city_dir), kind).map_err(internal)
    })
    .await
}

/// `?rig=NAME&all=true`: which store (the city's without a rig), and closed beads too.
#[derive(Deserialize)]
pub struct InStore {
    rig: Option<String>,
    #[serde(default)]
    all: bool,
}

/// The bead store of `rig` (the city's when `None`), as `gc bd` opens it.
fn store_of(shared: &Shared, rig: Option<&str>) -> Result<Box<dyn BeadStore>, Failure> {
    store_in(&model(shared)?, rig)
}

/// The store of `rig` (or the city's) in an applied city already read.
fn store_in(model: &CityModel, rig: Option<&str>) -> Result<Box<dyn BeadStore>, Failure> {
    if let Some(rig) = rig
        && !model.rigs.contains_key(rig)
    {
        return Err((StatusCode::NOT_FOUND, format!("no rig `{rig}`")));
    }
    let (_, store) = crate::work::stores::open(model, rig).map_err(internal)?;
    Ok(store)
}

fn bead_error(e: crate::beads::BeadError) -> Failure {
    match e {
        crate::beads::BeadError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no bead `{id}`")),
        other => (StatusCode::BAD_REQUEST, other.to_string()),
    }
}

/// `GET /api/v1/beads?rig=NAME&all=true`: what `gc bd list --json` lists (open ones unless
/// `all`).
pub async fn beads(State(shared): State<Arc<Shared>>, Query(q): Query<InStore>) -> Response {
    blocking(move || {
        let store = store_of(&shared, q.rig.as_deref())?;
        store.list(&ListQuery { all: q.all, ..ListQuery::default() }).map_err(bead_error)
    })
    .await
}

/// `GET /api/v1/beads/{id}?rig=NAME`: one bead, as `gc bd show --json`.
pub async fn bead(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<InStore>,
) -> Response {
    blocking(move || store_of(&shared, q.rig.as_deref())?.get(&id).map_err(bead_error)).await
}

/// `POST /api/v1/beads/{id}/close?rig=NAME` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    #[serde(default)]
    reason: Option<String>,
    /// The commit that did the work (`gc bd close --commit`).
    #[serde(default)]
    commit: Option<String>,
}

/// `POST /api/v1/beads/{id}/close?rig=NAME`: `gc bd close` (a molecule's last step closes
/// the molecule; a `bead.closed` event).
pub async fn close_bead(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<InStore>,
    body: Option<Json<CloseBody>>,
) -> Response {
    let Json(body) = body.unwrap_or_default();
    blocking(move || {
        let model = model(&shared)?;
        let store = store_in(&model, q.rig.as_deref())?;
        let rules = crate::work::proof::Rules::for_rig(&model, q.rig.as_deref());
        let offered = match body.commit.as_deref().filter(|c| !c.is_empty()) {
            Some(commit) => crate::work::proof::Offered::Commit(commit),
            None => crate::work::proof::Offered::Nothing,
        };
        let reason = body.reason.as_deref().filter(|r| !r.is_empty());
        crate::work::close(&*store, &id, reason, "dashboard", &rules, offered).map_err(bead_error)
    })
    .await
}

/// A molecule: its root and its steps with their dependencies, for drawing as a graph.
#[derive(Serialize)]
struct Molecule {
    root: Bead,
    steps: Vec<Bead>,
}

/// `GET /api/v1/molecules?rig=NAME&all=true`: the molecules (cooked formulas) in a store,
/// each with its steps.
pub async fn molecules(State(shared): State<Arc<Shared>>, Query(q): Query<InStore>) -> Response {
    blocking(move || {
        let store = store_of(&shared, q.rig.as_deref())?;
        let roots = store
            .list(&ListQuery {
                all: q.all,
                issue_type: Some(crate::formula::cook::MOLECULE_TYPE.into()),
                ..ListQuery::default()
            })
            .map_err(bead_error)?;
        let mut out = Vec::new();
        for root in roots {
            let listed = store
                .list(&ListQuery {
                    all: true,
                    parent: Some(root.id.clone()),
                    ..ListQuery::default()
                })
                .map_err(bead_error)?;
            // A listing leaves out dependencies; the graph needs each step's.
            let steps = listed
                .iter()
                .map(|step| store.get(&step.id))
                .collect::<Result<Vec<Bead>, _>>()
                .map_err(bead_error)?;
            out.push(Molecule { root, steps });
        }
        Ok(out)
    })
    .await
}

/// `?all=true`.
#[derive(Deserialize)]
pub struct ConvoysQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/v1/convoys?all=true`: the convoys with their members and progress, as
/// `gc convoy list -o json`.
pub async fn convoys(State(shared): State<Arc<Shared>>, Query(q): Query<ConvoysQuery>) -> Response {
    blocking(move || {
        let model = model(&shared)?;
        crate::work::convoy::list(&model, q.all).map_err(bead_error)
    })
    .await
}

/// `?agent=NAME&all=true`.
#[derive(Deserialize)]
pub struct MailQuery {
    agent: String,
    #[serde(default)]
    all: bool,
}

/// `GET /api/v1/mail?agent=NAME&all=true`: the agent's inbox, as `gc mail inbox`.
pub async fn mail(State(shared): State<Arc<Shared>>, Query(q): Query<MailQuery>) -> Response {
    blocking(move || {
        let model = model(&shared)?;
        agent_of(&model, &q.agent)?;
        let (_, store) = crate::work::stores::open(&model, None).map_err(internal)?;
        crate::work::mail::inbox(&*store, &q.agent, q.all).map_err(bead_error)
    })
    .await
}

/// `POST /api/v1/sling` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlingBody {
    agent: String,
    /// A bead id, or text that becomes a new bead.
    work: String,
}

/// `POST /api/v1/sling`: `gc sling AGENT WORK` (the controller is poked; bead events).
pub async fn sling(State(shared): State<Arc<Shared>>, Json(body): Json<SlingBody>) -> Response {
    blocking(move || {
        let model = model(&shared)?;
        agent_of(&model, &body.agent)?;
        if body.work.trim().is_empty() {
            return Err((StatusCode::BAD_REQUEST, "no work given".into()));
        }
        let (_, store) =
            crate::work::stores::open_for_agent(&model, &body.agent).map_err(internal)?;
        let slung = crate::work::sling::sling(&*store, &body.agent, &body.work, "dashboard")
            .map_err(bead_error)?;
        crate::notify::poke(&shared.city_dir);
        Ok(slung.bead)
    })
    .await
}

/// One member's changes.
#[derive(Serialize)]
struct Changes {
    /// The member (`agent`, or `agent-N` of a pool).
    member: String,
    /// The checkout looked at.
    path: String,
    /// What it is compared against (a commit), when it is a worktree.
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<String>,
    /// `git diff` against the base.
    diff: String,
    /// Files git does not track yet.
    untracked: Vec<String>,
}

/// `GET /api/v1/agents/{name}/changes`: what each of the agent's checkouts changed: a worktree
/// agent's branch (and edits) against where the rig's checkout is now (their merge base); an
/// agent working in the rig itself, its uncommitted edits.
pub async fn changes(State(shared): State<Arc<Shared>>, Path(agent): Path<String>) -> Response {
    blocking(move || {
        use crate::api::agent::Isolation;
        use crate::controllers::{git, launch};
        let model = model(&shared)?;
        let applied = agent_of(&model, &agent)?;
        let Some(rig_name) = applied.spec.rig.clone() else { return Ok(Vec::new()) };
        let rig = &model
            .rigs
            .get(&rig_name)
            .ok_or_else(|| internal(format!("no rig `{rig_name}`")))?
            .spec;
        let rig_dir = model.rig_dir(rig);
        let git_error = |e: git::GitError| internal(e);
        if applied.spec.isolation != Isolation::Worktree {
            let (diff, untracked) = git::changes(&rig_dir, None).map_err(git_error)?;
            let path = rig_dir.display().to_string();
            return Ok(vec![Changes { member: agent.clone(), path, base: None, diff, untracked }]);
        }
        let members: Vec<u32> = match &applied.spec.scaling {
            Some(s) => (1..=s.max.max(s.min)).collect(),
            None => vec![0],
        };
        let mut out = Vec::new();
        for index in members {
            let member = launch::member_name(&agent, index);
            let path = launch::worktrees_dir(&model.dir, &rig_name).join(&member);
            if !git::is_repo(&path) {
                continue;
            }
            let head = git::rev_parse(&rig_dir, "HEAD").map_err(git_error)?;
            let base = git::merge_base(&path, "HEAD", &head).map_err(git_error)?;
            let (diff, untracked) = git::changes(&path, Some(&base)).map_err(git_error)?;
            let path = path.display().to_string();
            out.push(Changes { member, path, base: Some(base), diff, untracked });
        }
        Ok(out)
    })
    .await
}
