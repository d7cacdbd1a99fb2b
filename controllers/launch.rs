//! How an agent's sessions are launched: names, work directory (a git worktree of the rig for
//! `isolation: worktree`), command line, environment (`BEADS_DIR` and `BEADS_ACTOR` included,
//! so `bd` in the session uses the right store as the right actor), rendered prompt and
//! readiness, and the one canonical fingerprint drift is judged by. Pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::model::CityModel;
use crate::agentcli::env::PassEnv;
use crate::agentcli::home_content::{self, HomeContent};
use crate::agentcli::screen::ScreenRules;
use crate::api::agent::Isolation;
use crate::api::provider::{ConversationSpec, DialogSpec, HomeSpec, HooksSpec, PromptMode};
use crate::beads::layout;
use crate::prompt::{AgentContext, CityContext, PromptContext, RigContext, SessionContext};
use crate::runtime::{Readiness, SessionConfig};

/// Session metadata keys gc sets on every session it starts.
pub mod meta {
    /// The agent the session belongs to.
    pub const AGENT: &str = "agent";
    /// The agent's uid when the session started (a re-created agent is another agent).
    pub const AGENT_UID: &str = "agent-uid";
    /// The agent's generation the session was started from.
    pub const GENERATION: &str = "generation";
    /// The launch fingerprint (see [`super::Launch::fingerprint`]).
    pub const FINGERPRINT: &str = "fingerprint";
    /// A random token naming this incarnation of the session; every stop is fenced by it.
    pub const INSTANCE: &str = "instance";
    /// Set to `1` once the session was seen ready.
    pub const READY: &str = "ready";
    /// The per-field digests the fingerprint is made of (see [`super::encode_fields`]), so a
    /// drifted session can say which fields changed.
    pub const LAUNCH_FIELDS: &str = "launch-fields";
    /// How its conversation started: `new <id>`, `new` (the CLI picks the id) or
    /// `resume <id>`.
    pub const CONVERSATION: &str = "conversation";
    /// Set to `1` while the session is stopped at a screen nothing declares.
    pub const BLOCKED: &str = "blocked";
    /// The last lines of that screen.
    pub const BLOCKED_SCREEN: &str = "blocked-screen";
    /// Dialogs answered at its start, by name, space-separated.
    pub const DIALOGS: &str = "dialogs";
}

/// One session to run for an agent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Launch {
    /// The agent.
    pub agent: String,
    /// The provider that launches it.
    pub provider: String,
    /// `gc-<city>-<agent>`, or `gc-<city>-<agent>-<n>` for pool member `n`.
    pub session: String,
    /// 0 for a single session, 1… for pool members.
    pub index: u32,
    /// Where it starts (inside [`Launch::worktree`] when the agent is isolated).
    pub work_dir: PathBuf,
    /// The git worktree to create before it starts (`isolation: worktree`), else none.
    pub worktree: Option<Worktree>,
    /// Program and arguments, without the prompt.
    pub program: Vec<String>,
    /// The rendered prompt, without the startup beacon.
    pub prompt: Option<String>,
    /// How the prompt is passed.
    pub prompt_mode: PromptMode,
    /// The flag before the prompt for [`PromptMode::Flag`].
    pub prompt_flag: Option<String>,
    /// The declared environment (Provider, Agent, gc's own); the session gets it plus what
    /// [`Launch::pass_env`] lets through from gc's environment, and nothing else.
    pub env: BTreeMap<String, String>,
    /// Which of gc's own variables pass into the session (credentials, endpoints, basics).
    pub pass_env: PassEnv,
    /// When the session counts as ready.
    pub readiness: Readiness,
    /// Text on screen while the agent works (not ready then).
    pub busy_markers: Vec<String>,
    /// Names of the CLI's processes; ready only once one runs in the session.
    pub process_names: Vec<String>,
    /// Dialogs that may appear at start and the option to choose.
    pub dialogs: Vec<DialogSpec>,
    /// The directory gc owns for the CLI's state (`.gc/homes/<session>`) and what goes in it.
    pub home: Option<(PathBuf, HomeSpec)>,
    /// The agent's skills, commands and MCP servers, put into [`Launch::home`] where its CLI
    /// reads them.
    pub content: HomeContent,
    /// gc's hooks for the CLI (its file lives in [`Launch::home`]).
    pub hooks: Option<HooksSpec>,
    /// How the CLI names and resumes conversations.
    pub conversation: Option<ConversationSpec>,
    /// The pod the session runs in (`session.backend: kubernetes`), else none.
    pub pod: Option<crate::runtime::kubernetes::PodSettings>,
    /// Digest of everything above that shapes the running program (see [`launch_fields`]).
    /// The beacon's timestamp is not part of it, so the same spec always gives the same
    /// fingerprint.
    pub fingerprint: String,
}

/// A session's own git worktree of its rig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worktree {
    /// The rig's name.
    pub rig: String,
    /// The rig's directory (the repository the worktree is taken from).
    pub rig_dir: PathBuf,
    /// Where the worktree lives: `<city>/.gc/worktrees/<rig>/<member>`.
    pub path: PathBuf,
    /// Its branch: `gc/<member>`.
    pub branch: String,
}

/// The directory holding every worktree of `rig`. Under `.gc/` so the city's own file scan
/// (which skips hidden directories) never reads a rig's files, and one per rig so a rig's
/// worktrees are found without knowing its agents.
pub fn worktrees_dir(city_dir: &Path, rig: &str) -> PathBuf {
    city_dir.join(".gc").join("worktrees").join(rig)
}

/// The name a session's member goes by in bead actors, worktree directories and branches:
/// the agent's name for its only session, `<agent>-<n>` for pool member `n`.
pub fn member_name(agent: &str, index: u32) -> String {
    if index == 0 { agent.to_owned() } else { format!("{agent}-{index}") }
}

/// What a session with a SessionStart hook is started with instead of its prompt: the hook
/// hands the agent its instructions and work (`gc prime --hook`); this starts its first turn.
const KICKOFF: &str = "Your instructions and current work came with this session's start. \
                       Work what is on your hook; `gc hook` shows it again.";

impl Launch {
    /// Whether the prompt reaches the agent through its SessionStart hook.
    pub fn primes_by_hook(&self) -> bool {
        self.hooks.as_ref().is_some_and(|h| h.events.session_start.is_some())
    }

    /// What gc reads on the session's screen.
    pub fn screen_rules(&self) -> ScreenRules {
        ScreenRules {
            ready_prefix: match &self.readiness {
                Readiness::PromptPrefix(prefixes) => prefixes.clone(),
                _ => Vec::new(),
            },
            busy_markers: self.busy_markers.clone(),
            dialogs: self.dialogs.clone(),
        }
    }

    /// The hooks file's absolute path, when the CLI gets hooks.
    pub fn hooks_file(&self) -> Option<PathBuf> {
        Some(self.home.as_ref()?.0.join(&self.hooks.as_ref()?.file))
    }

    /// The runtime's start request, with the startup beacon (`[<city>] <agent> • <time>`)
    /// first in the prompt, `conversation_args` (a new or resumed conversation) after every
    /// other argument, and gc's metadata attached.
    pub fn config(
        &self,
        city: &str,
        time: &str,
        conversation_args: &[String],
        meta: BTreeMap<String, String>,
    ) -> SessionConfig {
        let beacon = format!("[{city}] {} • {time}", self.agent);
        let prompt = match &self.prompt {
            _ if self.primes_by_hook() => format!("{beacon}\n\n{KICKOFF}"),
            Some(prompt) => format!("{beacon}\n\n{prompt}"),
            None => beacon,
        };
        let mut argv = self.program.clone();
        argv.extend(conversation_args.iter().cloned());
        match (self.prompt_mode, &self.prompt_flag) {
            (PromptMode::Arg, _) | (PromptMode::Flag, None) => argv.push(prompt),
            (PromptMode::Flag, Some(flag)) => argv.extend([flag.clone(), prompt]),
            (PromptMode::None, _) => {}
        }
        SessionConfig {
            name: self.session.clone(),
            work_dir: self.work_dir.clone(),
            argv,
            env: self.env.clone(),
            clean_env: false,
            meta,
            pod: self.pod.clone(),
        }
    }
}

/// `args` with `{{ name }}` (spaces optional) replaced by `value`: the one placeholder each
/// Provider argument list knows (`hooks_file`, `conversation_id`).
pub fn fill(args: &[String], name: &str, value: &str) -> Vec<String> {
    let spaced = format!("{{{{ {name} }}}}");
    let tight = format!("{{{{{name}}}}}");
    args.iter().map(|a| a.replace(&spaced, value).replace(&tight, value)).collect()
}

/// Why an agent's sessions cannot be launched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// No `provider` and no City `defaultProvider`.
    #[error("no provider: set spec.provider or the City's defaultProvider")]
    NoProvider,
    /// The named provider is not applied.
    #[error("provider `{0}` is not applied")]
    MissingProvider(String),
    /// The named rig is not applied.
    #[error("rig `{0}` is not applied")]
    MissingRig(String),
    /// The prompt template cannot be read or rendered.
    #[error("{0}")]
    Prompt(String),
    /// `isolation: worktree` without a rig to take worktrees of.
    #[error("isolation: worktree needs spec.rig (a git repository to take worktrees of)")]
    WorktreeWithoutRig,
    /// The agent's permission mode has no arguments in its provider.
    #[error(
        "permissionMode {mode}: provider `{provider}` does not say how its CLI runs in that mode \
         (spec.permissionModes)"
    )]
    PermissionMode {
        /// The mode.
        mode: &'static str,
        /// The provider.
        provider: String,
    },
}

/// The session name of member `index` (0 = the only session) of `agent` in `city`.
pub fn session_name(city: &str, agent: &str, index: u32) -> String {
    if index == 0 { format!("gc-{city}-{agent}") } else { format!("gc-{city}-{agent}-{index}") }
}

/// The pool member index `session` has as a session of `agent` in `city` (0 for the single
/// session), if it is one.
pub fn member_index(city: &str, agent: &str, session: &str) -> Option<u32> {
    let base = session_name(city, agent, 0);
    if session == base {
        return Some(0);
    }
    let n = session.strip_prefix(&base)?.strip_prefix('-')?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Whether `session` is named as a session of `agent` in `city` (the single one or a pool
/// member), for sessions that carry no `agent` metadata.
pub fn is_session_of(city: &str, agent: &str, session: &str) -> bool {
    is_base_or_member(&session_name(city, agent, 0), session)
}

/// Whether `name` is `base` or pool member `base-<n>` (session names, bead actors).
pub fn is_base_or_member(base: &str, name: &str) -> bool {
    name == base
        || name
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The launches of `agent`'s sessions: the single session (index 0) of an agent that does not
/// scale, else pool members `members` (indices from 1; which ones run is the planner's choice).
pub fn launches(
    model: &CityModel,
    agent: &str,
    members: &[u32],
) -> Result<Vec<Launch>, LaunchError> {
    let Some(applied) = model.agents.get(agent) else { return Ok(Vec::new()) };
    let spec = &applied.spec;
    let city_spec = model.city_spec();
    let provider_name = spec
        .provider
        .clone()
        .or(city_spec.default_provider.clone())
        .ok_or(LaunchError::NoProvider)?;
    let provider = &model
        .providers
        .get(&provider_name)
        .ok_or_else(|| LaunchError::MissingProvider(provider_name.clone()))?
        .spec;
    let rig = match &spec.rig {
        Some(name) => Some((
            name,
            &model.rigs.get(name).ok_or_else(|| LaunchError::MissingRig(name.clone()))?.spec,
        )),
        None => None,
    };
    let isolated = spec.isolation == Isolation::Worktree;
    if isolated && rig.is_none() {
        return Err(LaunchError::WorktreeWithoutRig);
    }
    // Where bd in the session finds its store: the rig's (worktrees share it), else the city's.
    let beads_dir = rig.map_or_else(
        || layout::city_beads_dir(&model.dir),
        |(_, r)| layout::rig_beads_dir(&model.rig_dir(r)),
    );
    // A command with a slash is a path inside the city; a bare name is looked up on PATH.
    let command = if provider.command.contains('/') {
        model.dir.join(&provider.command).to_string_lossy().into_owned()
    } else {
        provider.command.clone()
    };
    let mut program = vec![command];
    program.extend(provider.args.iter().cloned());
    match provider.permission_modes.get(&spec.permission_mode) {
        Some(args) => program.extend(args.iter().cloned()),
        None if provider.permission_modes.is_empty()
            && spec.permission_mode == crate::api::provider::PermissionMode::Autonomous => {}
        None => {
            return Err(LaunchError::PermissionMode {
                mode: spec.permission_mode.as_str(),
                provider: provider_name.clone(),
            });
        }
    }
    let mut pass = provider.pass_env.clone();
    // `bd` in the session reaches the same PostgreSQL store as gc does.
    if city_spec.beads.backend == crate::api::city::BeadsBackend::Postgres {
        pass.push(city_spec.beads.url_env().to_owned());
    }
    let pass_env = PassEnv::new(&pass, &provider.strip_env);
    let readiness = match (&provider.ready_prompt_prefix, &provider.ready_delay) {
        (Some(prefix), _) => Readiness::PromptPrefix(prefix.all()),
        (None, Some(delay)) if !delay.get().is_zero() => Readiness::Delay(delay.get()),
        _ => Readiness::None,
    };
    let content = agent_content(model, spec);
    let pod = pod_settings(&city_spec, provider, spec);
    let city = model.city_name();
    let members: Vec<u32> = if spec.scaling.is_some() {
        members.iter().copied().filter(|i| *i > 0).collect()
    } else {
        vec![0]
    };
    members
        .into_iter()
        .map(|index| {
            let session = session_name(&city, agent, index);
            let member = member_name(agent, index);
            let worktree = match rig {
                Some((name, r)) if isolated => Some(Worktree {
                    rig: name.clone(),
                    rig_dir: model.rig_dir(r),
                    path: worktrees_dir(&model.dir, name).join(&member),
                    branch: format!("gc/{member}"),
                }),
                _ => None,
            };
            let base = match (&worktree, rig) {
                (Some(tree), _) => tree.path.clone(),
                (None, Some((_, r))) => model.rig_dir(r),
                (None, None) => model.dir.clone(),
            };
            let work_dir = spec.work_dir.as_ref().map_or_else(|| base.clone(), |d| base.join(d));
            let context = PromptContext {
                city: CityContext { name: city.clone(), dir: model.dir.to_string_lossy().into() },
                agent: AgentContext {
                    name: agent.to_owned(),
                    base: crate::prompt::agent_base(agent, rig.map(|(name, _)| name.as_str())),
                    provider: provider_name.clone(),
                    work_dir: work_dir.to_string_lossy().into(),
                    description: spec.description.clone().unwrap_or_default(),
                },
                rig: rig.map(|(name, r)| RigContext {
                    name: name.clone(),
                    path: model.rig_dir(r).to_string_lossy().into(),
                    prefix: r.effective_prefix(name),
                }),
                session: SessionContext { name: session.clone(), index },
            };
            let prompt = render_prompt(model, spec.prompt.as_ref(), &context)?;
            let home = provider
                .home
                .as_ref()
                .map(|home| (crate::agentcli::home::home_dir(&model.dir, &session), home.clone()));
            let hooks = provider.hooks.clone().filter(|_| home.is_some());
            let mut program = program.clone();
            if let (Some((dir, _)), Some(hooks)) = (&home, &hooks) {
                let file = dir.join(&hooks.file).to_string_lossy().into_owned();
                program.extend(fill(&hooks.args, "hooks_file", &file));
            }
            if let Some((dir, home)) = &home
                && let (Some(mcp), Some(file)) =
                    (&home.mcp, home_content::mcp_file(dir, home, &content))
            {
                program.extend(fill(&mcp.args, "mcp_file", &file.to_string_lossy()));
            }
            program.extend(spec.args.iter().cloned());
            let mut env = provider.env.clone();
            if model.as_root {
                env.extend(provider.env_as_root.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some((dir, home)) = &home {
                env.insert(home.env.clone(), dir.to_string_lossy().into_owned());
            }
            env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            env.insert("GC_CITY".into(), model.dir.to_string_lossy().into());
            env.insert("GC_CITY_NAME".into(), city.clone());
            env.insert("GC_AGENT".into(), agent.to_owned());
            env.insert("GC_SESSION".into(), session.clone());
            if let Some((name, _)) = rig {
                env.insert("GC_RIG".into(), name.clone());
            }
            env.insert("BEADS_DIR".into(), beads_dir.to_string_lossy().into());
            env.insert("BEADS_ACTOR".into(), member);
            // The launcher links `bd` and `gc` there and puts it first on PATH; a real `bd`
            // must not be shadowed when the City asked for it.
            if city_spec.beads.backend != crate::api::city::BeadsBackend::Bd {
                let bin = model.dir.join(".gc").join("bin");
                env.insert(
                    crate::runtime::launch::BIN_DIR_ENV.into(),
                    bin.to_string_lossy().into(),
                );
            }
            let mut launch = Launch {
                agent: agent.to_owned(),
                provider: provider_name.clone(),
                session,
                index,
                work_dir,
                worktree,
                program,
                prompt,
                prompt_mode: provider.prompt_mode,
                prompt_flag: provider.prompt_flag.clone(),
                env,
                pass_env: pass_env.clone(),
                readiness: readiness.clone(),
                busy_markers: provider.busy_markers.clone(),
                process_names: provider.process_names.clone(),
                dialogs: provider.dialogs.clone(),
                home,
                content: content.clone(),
                hooks,
                conversation: provider.conversation.clone(),
                pod: pod.clone(),
                fingerprint: String::new(),
            };
            launch.fingerprint = fingerprint(&launch);
            Ok(launch)
        })
        .collect()
}

/// The pod of an agent's sessions when they run as pods (`session.backend: kubernetes`): the
/// City's `session.kubernetes`, with the Provider's image and Secret and the Agent's resources
/// where they set them.
fn pod_settings(
    city: &crate::api::CitySpec,
    provider: &crate::api::ProviderSpec,
    agent: &crate::api::AgentSpec,
) -> Option<crate::runtime::kubernetes::PodSettings> {
    if city.session.backend != crate::api::city::SessionBackend::Kubernetes {
        return None;
    }
    let mut spec = city.session.kubernetes.clone().unwrap_or_default();
    if let Some(pods) = &provider.kubernetes {
        spec.image = pods.image.clone().or(spec.image);
        spec.secret_name = pods.secret_name.clone().or(spec.secret_name);
    }
    if let Some(pods) = &agent.kubernetes {
        spec.resources = pods.resources.clone().or(spec.resources);
    }
    crate::runtime::kubernetes::PodSettings::from_spec(&spec)
}

/// The agent's skills, commands and MCP servers, with paths resolved against the city.
fn agent_content(model: &CityModel, spec: &crate::api::AgentSpec) -> HomeContent {
    let path = |p: &String| model.dir.join(p);
    let mut mcp_servers = spec.mcp_servers.clone();
    for server in mcp_servers.values_mut() {
        // A command with a slash is a path inside the city; a bare name is looked up on PATH.
        if let Some(command) = server.command.as_mut().filter(|c| c.contains('/')) {
            *command = model.dir.join(&*command).to_string_lossy().into_owned();
        }
    }
    HomeContent {
        skills: spec.skills.iter().map(path).collect(),
        commands: spec.commands.iter().map(path).collect(),
        mcp_servers,
    }
}

fn render_prompt(
    model: &CityModel,
    prompt: Option<&crate::api::agent::PromptSpec>,
    context: &PromptContext,
) -> Result<Option<String>, LaunchError> {
    let Some(prompt) = prompt else { return Ok(None) };
    let (name, source) = match (&prompt.template, &prompt.inline) {
        (Some(path), _) => match model.templates.get(path) {
            Some(Ok(text)) => (path.as_str(), text.as_str()),
            Some(Err(e)) => return Err(LaunchError::Prompt(e.clone())),
            None => return Err(LaunchError::Prompt(format!("prompt template {path} not loaded"))),
        },
        (None, Some(inline)) => ("inline prompt", inline.as_str()),
        (None, None) => return Ok(None),
    };
    crate::prompt::render(name, source, context)
        .map(Some)
        .map_err(|e| LaunchError::Prompt(format!("{name}: {}", e.message)))
}

/// The digest of each field of a launch that shapes the running program: `provider`,
/// `program` (command and arguments), `workDir`, `prompt` (the rendered template, so a
/// template edit counts), `promptMode` and one `env.<NAME>` per variable. Short digests only:
/// env values may be secrets, and they end up in session metadata.
pub fn launch_fields(launch: &Launch) -> BTreeMap<String, String> {
    fn digest(value: &impl Serialize) -> String {
        let bytes = serde_json::to_vec(value).expect("launch fields serialise");
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
    }
    let mode = match launch.prompt_mode {
        PromptMode::Arg => "arg".to_owned(),
        PromptMode::Flag => format!("flag {}", launch.prompt_flag.as_deref().unwrap_or_default()),
        PromptMode::None => "none".to_owned(),
    };
    let mut fields = BTreeMap::from([
        ("provider".to_owned(), digest(&launch.provider)),
        ("program".to_owned(), digest(&launch.program)),
        ("workDir".to_owned(), digest(&launch.work_dir)),
        ("prompt".to_owned(), digest(&launch.prompt)),
        ("promptMode".to_owned(), digest(&mode)),
    ]);
    for (name, value) in &launch.env {
        fields.insert(format!("env.{name}"), digest(value));
    }
    // Fields of real agent CLIs, recorded only when set so that sessions started before they
    // existed do not read as drifted.
    let provider_pass: Vec<&String> =
        launch.pass_env.pass.iter().skip(crate::agentcli::env::BASICS.len()).collect();
    if !provider_pass.is_empty() || !launch.pass_env.strip.is_empty() {
        fields.insert("passEnv".to_owned(), digest(&(provider_pass, &launch.pass_env.strip)));
    }
    if let Some((_, home)) = &launch.home {
        fields.insert("home".to_owned(), digest(home));
    }
    if launch.home.is_some() && !launch.content.is_empty() {
        fields.insert("content".to_owned(), digest(&launch.content));
    }
    if let Some(hooks) = &launch.hooks {
        fields.insert("hooks".to_owned(), digest(hooks));
    }
    if let Some(conversation) = &launch.conversation {
        fields.insert("conversation".to_owned(), digest(conversation));
    }
    if let Some(pod) = &launch.pod {
        fields.insert("pod".to_owned(), digest(pod));
    }
    fields
}

/// [`launch_fields`] as one line for session metadata: `field=digest` joined by spaces (field
/// names and digests hold no spaces or `=`).
pub fn encode_fields(fields: &BTreeMap<String, String>) -> String {
    fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// The fields that differ between a session's recorded [`encode_fields`] line and `launch`:
/// changed, added or removed, in name order.
pub fn changed_fields(recorded: &str, launch: &Launch) -> Vec<String> {
    let before: BTreeMap<&str, &str> =
        recorded.split_whitespace().filter_map(|pair| pair.split_once('=')).collect();
    let now = launch_fields(launch);
    let mut changed: Vec<String> = now
        .iter()
        .filter(|(k, v)| before.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, _)| k.clone())
        .collect();
    changed.extend(before.keys().filter(|k| !now.contains_key(**k)).map(|k| (*k).to_owned()));
    changed.sort();
    changed
}

/// The canonical launch fingerprint: one function over [`launch_fields`], no clock.
fn fingerprint(launch: &Launch) -> String {
    let line = encode_fields(&launch_fields(launch));
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(line.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_belong_to_their_agent_only() {
        assert!(is_session_of("town", "worker", "gc-town-worker"));
        assert!(is_session_of("town", "worker", "gc-town-worker-12"));
        assert!(!is_session_of("town", "worker", "gc-town-worker-"));
        assert!(!is_session_of("town", "worker", "gc-town-worker-x"));
        // `worker-pool` is another agent, not pool member "pool" of `worker`.
        assert!(!is_session_of("town", "worker", "gc-town-worker-pool"));
        assert!(!is_session_of("town", "worker", "gc-other-worker"));
    }

    fn sample() -> Launch {
        Launch {
            agent: "worker".into(),
            provider: "claude".into(),
            session: "gc-town-worker".into(),
            index: 0,
            work_dir: PathBuf::from("/city"),
            worktree: None,
            program: vec!["claude".into()],
            prompt: Some("hello".into()),
            prompt_mode: PromptMode::Arg,
            prompt_flag: None,
            env: BTreeMap::from([("LOG_LEVEL".into(), "info".into())]),
            readiness: Readiness::None,
            ..Launch::default()
        }
    }

    #[test]
    fn settings_outside_the_launch_change_no_fingerprint() {
        use crate::api::agent::{AgentSpec, OnDrift, PromptSpec, ScalingSpec};
        use crate::api::provider::ProviderSpec;
        use crate::controllers::model::Applied;
        let model = |spec: AgentSpec| {
            let mut model = CityModel { dir: "/c".into(), ..CityModel::default() };
            let applied = |spec| Applied { name: "n".into(), generation: 1, uid: "u".into(), spec };
            model.providers.insert(
                "p".into(),
                applied(ProviderSpec { command: "x".into(), ..ProviderSpec::default() }),
            );
            let agent = Applied { name: "worker".into(), generation: 1, uid: "u".into(), spec };
            model.agents.insert("worker".into(), agent);
            model
        };
        let base = AgentSpec {
            provider: Some("p".into()),
            prompt: Some(PromptSpec { template: None, inline: Some("Hi {{ agent.name }}".into()) }),
            scaling: Some(ScalingSpec {
                min: 1,
                max: 2,
                scale_check: None,
                scale_check_timeout: crate::api::Duration::from_secs(30),
            }),
            ..AgentSpec::default()
        };
        let fingerprint = |spec: AgentSpec| {
            launches(&model(spec), "worker", &[1]).unwrap()[0].fingerprint.clone()
        };
        let before = fingerprint(base.clone());
        let mut same = base.clone();
        same.nudge = Some("check your hook".into());
        same.scaling.as_mut().unwrap().max = 5;
        same.depends_on = vec!["mayor".into()];
        same.idle_timeout = Some(crate::api::Duration::from_secs(60));
        same.restart_policy.on_drift = OnDrift::Never;
        assert_eq!(fingerprint(same), before, "no restart for settings the session never sees");
        let mut env = base.clone();
        env.env.insert("LOG_LEVEL".into(), "debug".into());
        assert_ne!(fingerprint(env), before);
        let mut prompt = base;
        prompt.prompt = Some(PromptSpec { template: None, inline: Some("Bye".into()) });
        assert_ne!(fingerprint(prompt), before);
    }

    #[test]
    fn session_pods_are_part_of_the_launch_and_its_fingerprint() {
        use crate::api::CitySpec;
        use crate::api::agent::AgentSpec;
        use crate::api::city::{KubernetesSessionSpec, SessionBackend};
        use crate::api::provider::ProviderSpec;
        use crate::controllers::model::Applied;
        let launch = |backend: SessionBackend, image: &str| {
            let mut model = CityModel { dir: "/c".into(), ..CityModel::default() };
            let mut city = CitySpec::default();
            city.session.backend = backend;
            city.session.kubernetes = Some(KubernetesSessionSpec {
                image: Some(image.into()),
                secret_name: Some("keys".into()),
                ..KubernetesSessionSpec::default()
            });
            model.city =
                Some(Applied { name: "c".into(), generation: 1, uid: "u".into(), spec: city });
            let provider = ProviderSpec { command: "x".into(), ..ProviderSpec::default() };
            model.providers.insert(
                "p".into(),
                Applied { name: "p".into(), generation: 1, uid: "u".into(), spec: provider },
            );
            let spec = AgentSpec { provider: Some("p".into()), ..AgentSpec::default() };
            let agent = Applied { name: "worker".into(), generation: 1, uid: "u".into(), spec };
            model.agents.insert("worker".into(), agent);
            launches(&model, "worker", &[0]).unwrap().remove(0)
        };
        // Another backend: no pod, and no field that would read as drift of older sessions.
        let local = launch(SessionBackend::Tmux, "a:1");
        assert_eq!(local.pod, None);
        assert!(!launch_fields(&local).contains_key("pod"));

        let first = launch(SessionBackend::Kubernetes, "a:1");
        let pod = first.pod.clone().expect("pods for the kubernetes backend");
        assert_eq!((pod.image.as_str(), pod.secret_name.as_deref()), ("a:1", Some("keys")));
        assert_eq!(first.config("c", "t", &[], BTreeMap::new()).pod, Some(pod));
        // A new image is drift, named as such.
        let second = launch(SessionBackend::Kubernetes, "a:2");
        assert_ne!(first.fingerprint, second.fingerprint);
        let recorded = encode_fields(&launch_fields(&first));
        assert_eq!(changed_fields(&recorded, &second), ["pod"]);
    }

    #[test]
    fn a_provider_and_an_agent_override_the_citys_pod_settings() {
        use crate::api::agent::{AgentPodSpec, AgentSpec};
        use crate::api::city::{KubernetesSessionSpec, PodResources, ResourceAmounts};
        use crate::api::provider::{ProviderPodSpec, ProviderSpec};
        let mut city = crate::api::CitySpec::default();
        city.session.backend = crate::api::city::SessionBackend::Kubernetes;
        let amounts = |cpu: &str| ResourceAmounts { cpu: Some(cpu.into()), memory: None };
        let resources = |cpu| PodResources { requests: Some(amounts(cpu)), limits: None };
        city.session.kubernetes = Some(KubernetesSessionSpec {
            image: Some("city:1".into()),
            secret_name: Some("city-keys".into()),
            workspace_claim: Some("town".into()),
            resources: Some(resources("1")),
            ..KubernetesSessionSpec::default()
        });
        let plain = ProviderSpec { command: "x".into(), ..ProviderSpec::default() };
        let agent = AgentSpec::default();
        let pod = pod_settings(&city, &plain, &agent).unwrap();
        assert_eq!((pod.image.as_str(), pod.secret_name.as_deref()), ("city:1", Some("city-keys")));

        let codex = ProviderSpec {
            kubernetes: Some(ProviderPodSpec {
                image: Some("codex:2".into()),
                secret_name: Some("openai".into()),
            }),
            ..plain.clone()
        };
        let big = AgentSpec {
            kubernetes: Some(AgentPodSpec { resources: Some(resources("4")) }),
            ..AgentSpec::default()
        };
        let pod = pod_settings(&city, &codex, &big).unwrap();
        assert_eq!((pod.image.as_str(), pod.secret_name.as_deref()), ("codex:2", Some("openai")));
        assert_eq!(pod.resources, Some(resources("4")));
        assert_eq!(pod.workspace_claim.as_deref(), Some("town"), "the rest is the City's");

        city.session.backend = crate::api::city::SessionBackend::Tmux;
        assert_eq!(pod_settings(&city, &codex, &big), None);
    }

    #[test]
    fn a_cli_provider_shapes_the_command_environment_and_home() {
        use crate::api::agent::AgentSpec;
        use crate::api::provider::{HomeSpec, HookEvents, HooksSpec, PermissionMode, ProviderSpec};
        use crate::controllers::model::Applied;
        let provider = ProviderSpec {
            command: "claude".into(),
            env: BTreeMap::from([("DISABLE_AUTOUPDATER".into(), "1".into())]),
            env_as_root: BTreeMap::from([("IS_SANDBOX".into(), "1".into())]),
            pass_env: vec!["ANTHROPIC_*".into()],
            permission_modes: BTreeMap::from([
                (PermissionMode::Autonomous, vec!["--dangerously-skip-permissions".into()]),
                (PermissionMode::Plan, vec!["--permission-mode".into(), "plan".into()]),
            ]),
            home: Some(HomeSpec { env: "CLAUDE_CONFIG_DIR".into(), ..HomeSpec::default() }),
            hooks: Some(HooksSpec {
                file: "gc-settings.json".into(),
                args: vec!["--settings".into(), "{{ hooks_file }}".into()],
                events: HookEvents {
                    session_start: Some("SessionStart".into()),
                    ..HookEvents::default()
                },
                ..HooksSpec::default()
            }),
            ..ProviderSpec::default()
        };
        fn applied<S>(name: &str, spec: S) -> Applied<S> {
            Applied { name: name.into(), generation: 1, uid: "u".into(), spec }
        }
        let model = |mode: PermissionMode, as_root: bool| {
            let mut model = CityModel { dir: "/c".into(), as_root, ..CityModel::default() };
            model.providers.insert("claude".into(), applied("claude", provider.clone()));
            let agent = AgentSpec {
                provider: Some("claude".into()),
                permission_mode: mode,
                args: vec!["--model".into(), "x".into()],
                ..AgentSpec::default()
            };
            model.agents.insert("solo".into(), applied("solo", agent));
            model
        };
        let launch =
            launches(&model(PermissionMode::Autonomous, true), "solo", &[]).unwrap().remove(0);
        assert_eq!(
            launch.program,
            [
                "claude",
                "--dangerously-skip-permissions",
                "--settings",
                "/c/.gc/homes/gc-c-solo/gc-settings.json",
                "--model",
                "x"
            ]
        );
        assert_eq!(launch.env["CLAUDE_CONFIG_DIR"], "/c/.gc/homes/gc-c-solo");
        assert_eq!(launch.env["IS_SANDBOX"], "1");
        assert!(
            launch.pass_env.passes("ANTHROPIC_API_KEY") && !launch.pass_env.passes("CLAUDECODE")
        );
        assert!(launch.primes_by_hook());
        let config =
            launch.config("c", "now", &["--session-id".into(), "u1".into()], BTreeMap::new());
        assert_eq!(&config.argv[6..8], ["--session-id", "u1"], "conversation before the prompt");
        assert!(
            config.argv[8].starts_with("[c] solo • now\n\nYour instructions"),
            "{:?}",
            config.argv
        );
        let not_root =
            launches(&model(PermissionMode::Autonomous, false), "solo", &[]).unwrap().remove(0);
        assert!(!not_root.env.contains_key("IS_SANDBOX"));
        let plan = launches(&model(PermissionMode::Plan, false), "solo", &[]).unwrap().remove(0);
        assert_eq!(&plan.program[1..3], ["--permission-mode", "plan"]);
        let err = launches(&model(PermissionMode::Ask, false), "solo", &[]).unwrap_err();
        assert!(matches!(err, LaunchError::PermissionMode { mode: "ask", .. }), "{err}");
    }

    #[test]
    fn changed_fields_name_what_differs_and_nothing_else() {
        let before = sample();
        let recorded = encode_fields(&launch_fields(&before));
        assert!(changed_fields(&recorded, &before).is_empty());
        let mut after = sample();
        after.env.insert("LOG_LEVEL".into(), "debug".into());
        after.env.insert("NEW".into(), "x".into());
        after.prompt = Some("hello again".into());
        assert_eq!(changed_fields(&recorded, &after), ["env.LOG_LEVEL", "env.NEW", "prompt"]);
        let mut removed = sample();
        removed.env.clear();
        removed.provider = "codex".into();
        assert_eq!(changed_fields(&recorded, &removed), ["env.LOG_LEVEL", "provider"]);
        // The fingerprint follows the fields, and only them.
        assert_eq!(fingerprint(&before), fingerprint(&sample()));
        assert_ne!(fingerprint(&before), fingerprint(&after));
        let mut ready_changed = sample();
        ready_changed.readiness = Readiness::Delay(std::time::Duration::from_secs(3));
        assert_eq!(fingerprint(&before), fingerprint(&ready_changed));
    }
}
