//! Seeded random interleavings ("chaos") of the agent controller: applies, deletes, killed
//! sessions, a killed controller, slung, claimed and closed work and `gc session reset`, in an
//! order a seed decides, with the controller's invariants checked after every step.
//!
//! Everything but the sessions is real: resources are written to the applied store the way
//! `gc apply` and `gc delete` write them, the crash ledger lives on disk, and work goes through
//! the embedded SQLite bead store. Sessions run on [`FakeRuntime`], wrapped so that every start
//! is checked against the crash ledger at the moment it happens.
//!
//! Replay one seed (a failure prints this line with its seed):
//!
//! ```text
//! GC_CHAOS_SEED=17 cargo test --test controller_chaos -- --nocapture
//! ```
//!
//! `GC_CHAOS_STEPS` changes the number of steps per seed.
//!
//! A seed replays the same run: every choice comes from the seed, candidates are picked from
//! sorted lists, and what depends on the wall clock is kept off the decisions — crash backoff
//! is at most 2ms and each kill is followed by a 3ms pause (so a backoff has always passed by
//! the next reconcile), a reset is followed by a pause (so later restarts are stamped after its
//! marker), quarantines last an hour and sessions are never quiet for the 60s a `WhenIdle`
//! drift restart waits for, and the per-second start budget is too large to run out.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use gascity::api::Kind;
use gascity::beads::model::status;
use gascity::beads::{BeadStore, ListQuery};
use gascity::controllers::crash_ledger::CrashLedger;
use gascity::controllers::launch::meta;
use gascity::controllers::model::CityModel;
use gascity::controllers::reconcile::{self, Context};
use gascity::runtime::fake::{Call, FakeRuntime};
use gascity::runtime::{Readiness, Runtime, RuntimeError, SessionConfig, SessionInfo};
use gascity::store::Store;
use gascity::work::{ROUTED_TO, stores};

/// The city's name; sessions are `gc-chaos-<agent>` (pool members `gc-chaos-worker-<n>`).
const CITY: &str = "chaos";

/// Restarts within the window before a session is quarantined (the City's `maxRestarts`).
const MAX_RESTARTS: usize = 3;

/// The most members the pool runs when no member holds work beyond it.
const POOL_MAX: usize = 3;

/// Seeds run when `GC_CHAOS_SEED` is not set.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=30;

/// Steps per seed when `GC_CHAOS_STEPS` is not set.
const STEPS: usize = 60;

/// How often each kind of step is picked, out of the sum. Kills are frequent so that some
/// runs crash-loop a session into quarantine; slings, claims and closes so that the pool grows,
/// shrinks and has members holding work.
const STEP_WEIGHTS: [(&str, usize); 15] = [
    ("reconcile all", 18),
    ("reconcile one", 10),
    ("sweep", 2),
    ("kill session", 18),
    ("vanish session", 2),
    ("kill controller", 3),
    ("change env", 5),
    ("suspend or resume agent", 5),
    ("suspend or resume city", 2),
    ("delete agent", 3),
    ("re-add agent", 3),
    ("sling", 11),
    ("claim", 9),
    ("close", 6),
    ("session reset", 3),
];

/// Longer than the City's largest crash backoff (`2ms`).
const PAST_BACKOFF: Duration = Duration::from_millis(3);

/// One agent of the chaos city.
struct AgentDef {
    name: &'static str,
    /// `spec.dependsOn`.
    depends_on: &'static [&'static str],
    /// `spec.scaling.max` for the pool (min is 0), `None` for a single-session agent.
    pool_max: Option<usize>,
    /// `spec.restartPolicy.onDrift`.
    on_drift: &'static str,
}

/// The agents: a single-session agent (`WhenIdle`: never restarted here, its sessions are never
/// quiet for 60s), one depending on it (`Never`), a pool fed by slung beads, and one that
/// restarts `Immediate`ly on drift.
const AGENTS: [AgentDef; 4] = [
    AgentDef { name: "mayor", depends_on: &[], pool_max: None, on_drift: "WhenIdle" },
    AgentDef { name: "deputy", depends_on: &["mayor"], pool_max: None, on_drift: "Never" },
    AgentDef { name: "worker", depends_on: &[], pool_max: Some(POOL_MAX), on_drift: "WhenIdle" },
    AgentDef { name: "builder", depends_on: &[], pool_max: None, on_drift: "Immediate" },
];

fn def(agent: &str) -> &'static AgentDef {
    AGENTS.iter().find(|d| d.name == agent).unwrap_or(&AGENTS[0])
}

/// What the test has applied for one agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Desired {
    /// In the store (not deleted).
    present: bool,
    /// `spec.suspended`.
    suspended: bool,
    /// `spec.env.REV`: bumped to make its launch drift.
    rev: u32,
}

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

/// [`FakeRuntime`] with every start checked against the crash ledger as it happens: a start of
/// a session the ledger holds quarantined is recorded as a violation.
struct Watched {
    fake: Arc<FakeRuntime>,
    ledger: CrashLedger,
    violations: Mutex<Vec<String>>,
}

impl Watched {
    fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Runtime for Watched {
    fn start(&self, config: &SessionConfig) -> Result<(), RuntimeError> {
        let now = SystemTime::now();
        let problem = match self.ledger.load() {
            Ok(records) => records.get(&config.name).filter(|r| r.is_quarantined(now)).map(|r| {
                format!(
                    "{} started while the crash ledger holds it quarantined ({})",
                    config.name,
                    r.quarantine_reason.clone().unwrap_or_default()
                )
            }),
            Err(e) => Some(format!("cannot read the crash ledger at a start: {e}")),
        };
        if let Some(problem) = problem {
            self.violations.lock().unwrap_or_else(|e| e.into_inner()).push(problem);
        }
        self.fake.start(config)
    }

    fn stop(&self, name: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.fake.stop(name, grace)
    }

    fn is_running(&self, name: &str) -> Result<bool, RuntimeError> {
        self.fake.is_running(name)
    }

    fn list(&self, prefix: &str) -> Result<Vec<SessionInfo>, RuntimeError> {
        self.fake.list(prefix)
    }

    fn peek(&self, name: &str, lines: usize) -> Result<String, RuntimeError> {
        self.fake.peek(name, lines)
    }

    fn nudge(&self, name: &str, text: &str) -> Result<(), RuntimeError> {
        self.fake.nudge(name, text)
    }

    fn attach(&self, name: &str) -> Result<(), RuntimeError> {
        self.fake.attach(name)
    }

    fn set_meta(&self, name: &str, key: &str, value: &str) -> Result<(), RuntimeError> {
        self.fake.set_meta(name, key, value)
    }

    fn get_meta(&self, name: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        self.fake.get_meta(name, key)
    }

    fn last_activity(&self, name: &str) -> Result<Option<SystemTime>, RuntimeError> {
        self.fake.last_activity(name)
    }

    fn wait_ready(
        &self,
        name: &str,
        ready: &Readiness,
        timeout: Duration,
    ) -> Result<bool, RuntimeError> {
        self.fake.wait_ready(name, ready, timeout)
    }
}

/// When an agent was last reconciled, and whether it could then rightly keep its sessions
/// while turned off (an agent depending on it was being turned off and still ran: stop order
/// is the reverse of start order).
#[derive(Clone, Copy, Debug)]
struct Reconciled {
    step: usize,
    may_wait: bool,
}

/// What a run saw, summed over seeds to show the chaos reached the interesting states.
#[derive(Clone, Debug, Default)]
struct Coverage {
    steps: BTreeMap<&'static str, usize>,
    quarantines: usize,
    quarantines_reset: usize,
    drift_restarts: usize,
    pool_starts: usize,
    claims: usize,
    controller_kills: usize,
    refused_applies: usize,
}

impl Coverage {
    fn add(&mut self, other: &Coverage) {
        for (step, n) in &other.steps {
            *self.steps.entry(step).or_default() += n;
        }
        self.quarantines += other.quarantines;
        self.quarantines_reset += other.quarantines_reset;
        self.drift_restarts += other.drift_restarts;
        self.pool_starts += other.pool_starts;
        self.claims += other.claims;
        self.controller_kills += other.controller_kills;
        self.refused_applies += other.refused_applies;
    }
}

/// One seeded run: the city, its controller, and what the test knows it did.
struct Chaos {
    seed: u64,
    rng: Rng,
    _dir: tempfile::TempDir,
    city: PathBuf,
    fake: Arc<FakeRuntime>,
    watched: Arc<Watched>,
    ctx: Context,
    ledger: CrashLedger,
    beads: Box<dyn BeadStore>,
    desired: BTreeMap<&'static str, Desired>,
    city_suspended: bool,
    /// The agent the kills favour, so that some runs crash-loop it into quarantine.
    victim: &'static str,
    step: usize,
    log: Vec<String>,
    /// The last step that changed an agent's desired state (its own resource or the City).
    changed_at: BTreeMap<&'static str, usize>,
    reconciled: BTreeMap<&'static str, Reconciled>,
    /// Agents whose status this step wrote (or removed).
    fresh: BTreeSet<&'static str>,
    /// Real deaths (kills, vanishings) per session since its last `gc session reset`.
    deaths: BTreeMap<String, usize>,
    /// Sessions that died and were not started since.
    dead_pending: BTreeSet<String>,
    /// Quarantines seen in the ledger and not reset by the test since: session → (the step it
    /// was seen at, until when). Kept here too, so a controller that wipes the ledger's
    /// quarantine itself is caught as well.
    quarantined: BTreeMap<String, (usize, SystemTime)>,
    /// Whether this step stopped sessions itself (not the controller).
    external_stop: bool,
    beads_made: usize,
    coverage: Coverage,
}

/// A failed run: where and why, with the log so far.
struct Failure {
    seed: u64,
    step: usize,
    message: String,
    log: Vec<String>,
}

impl Failure {
    fn report(&self) -> String {
        let mut out = format!(
            "controller chaos: seed {} broke an invariant at step {}:\n  {}\nsteps so far:\n",
            self.seed, self.step, self.message
        );
        for line in &self.log {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!(
            "replay: GC_CHAOS_SEED={} cargo test --test controller_chaos -- --nocapture\n",
            self.seed
        ));
        out
    }
}

fn city_yaml(suspended: bool) -> String {
    format!(
        "apiVersion: gascity.dev/v1alpha1
kind: City
metadata:
  name: {CITY}
spec:
  defaultProvider: fake
  suspended: {suspended}
  controller:
    maxStartsPerSecond: 1000
    shutdownTimeout: 0s
    crashLoop:
      maxRestarts: {MAX_RESTARTS}
      window: 1h
      backoff:
        initial: 1ms
        max: 2ms
      quarantine: 1h
"
    )
}

const PROVIDER_YAML: &str = "apiVersion: gascity.dev/v1alpha1
kind: Provider
metadata:
  name: fake
spec:
  command: sh  # the fake runtime runs nothing, but gc starts no session whose CLI is missing
";

fn agent_yaml(def: &AgentDef, desired: Desired) -> String {
    let mut yaml = format!(
        "apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: {}
spec:
  suspended: {}
  env:
    REV: \"{}\"
  restartPolicy:
    onDrift: {}
",
        def.name, desired.suspended, desired.rev, def.on_drift
    );
    if !def.depends_on.is_empty() {
        yaml.push_str(&format!("  dependsOn: [{}]\n", def.depends_on.join(", ")));
    }
    if let Some(max) = def.pool_max {
        yaml.push_str(&format!("  scaling:\n    min: 0\n    max: {max}\n"));
    }
    yaml
}

fn agent_file(city: &Path, agent: &str) -> PathBuf {
    city.join("agents").join(format!("{agent}.yaml"))
}

/// `gc apply [-f FILE]` through the library, as the command does it: load and validate, plan
/// under the store's lock, write, commit, record events. `Err` carries why it was refused.
/// (Like the command, it passes the process's working directory: `load` reads paths relative
/// to it.)
fn apply(city: &Path, files: &[PathBuf]) -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(err)?;
    let declared =
        gascity::apply::load(files, Some(city), &cwd, false).map_err(|e| e.to_string())?;
    if !declared.validation.is_valid() {
        let messages: Vec<&str> =
            declared.validation.diagnostics.iter().map(|d| d.message.as_str()).collect();
        let files: Vec<String> = declared
            .validation
            .diagnostics
            .iter()
            .filter_map(|d| d.location.as_ref().map(|(f, _)| f.name.clone()))
            .collect();
        return Err(format!("{} ({files:?})", messages.join("; ")));
    }
    let store = Store::new(city);
    let lock = store.lock().map_err(|e| e.to_string())?;
    let applied = gascity::apply::current(&store, &declared).map_err(|e| e.to_string())?;
    let changes = gascity::apply::plan(&declared.objects, &applied, &declared.prune);
    gascity::apply::execute(&store, &lock, &changes).map_err(|e| e.to_string())?;
    store.commit(lock).map_err(|e| e.to_string())?;
    gascity::events::append(city, gascity::apply::events(&changes), "gc apply")
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// `gc delete agent/NAME` through the library.
fn delete(city: &Path, agent: &str) -> Result<(), String> {
    let store = Store::new(city);
    let lock = store.lock().map_err(|e| e.to_string())?;
    store.delete(&lock, Kind::Agent, agent).map_err(|e| e.to_string())?;
    store.commit(lock).map_err(|e| e.to_string())?;
    let event = gascity::events::Event::new("resource.deleted", "Deleted", "deleted by gc delete")
        .object(Kind::Agent, agent);
    gascity::events::append(city, vec![event], "gc delete").map_err(|e| e.to_string())?;
    Ok(())
}

fn owner(session: &SessionInfo) -> Option<&str> {
    session.meta.get(meta::AGENT).map(String::as_str)
}

/// `worker-2` for `gc-chaos-worker-2`: the actor a session's agent works as.
fn actor_of(session: &str) -> String {
    session.strip_prefix(&format!("gc-{CITY}-")).unwrap_or(session).to_owned()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Chaos {
    /// A fresh city with every agent applied and nothing running yet.
    fn new(seed: u64) -> Result<Chaos, String> {
        let dir = tempfile::tempdir().map_err(err)?;
        let city = dir.path().to_path_buf();
        std::fs::create_dir_all(city.join("agents")).map_err(err)?;
        std::fs::create_dir_all(city.join("providers")).map_err(err)?;
        std::fs::write(city.join("city.yaml"), city_yaml(false)).map_err(err)?;
        std::fs::write(city.join("providers/fake.yaml"), PROVIDER_YAML).map_err(err)?;
        let mut desired = BTreeMap::new();
        for def in &AGENTS {
            let d = Desired { present: true, suspended: false, rev: 0 };
            std::fs::write(agent_file(&city, def.name), agent_yaml(def, d)).map_err(err)?;
            desired.insert(def.name, d);
        }
        apply(&city, &[]).map_err(|e| format!("the chaos city does not apply: {e}"))?;
        let model = CityModel::load(&city, &Store::new(&city)).map_err(err)?;
        let (_, beads) = stores::open(&model, None).map_err(err)?;
        let fake = Arc::new(FakeRuntime::new());
        let ledger = CrashLedger::new(&city);
        let watched = Arc::new(Watched {
            fake: fake.clone(),
            ledger: ledger.clone(),
            violations: Mutex::default(),
        });
        let ctx = Context::new(city.clone(), watched.clone(), "chaos");
        let mut rng = Rng(seed);
        let victim = AGENTS[rng.below(AGENTS.len())].name;
        Ok(Chaos {
            seed,
            rng,
            _dir: dir,
            city,
            fake,
            watched,
            ctx,
            ledger,
            beads,
            desired,
            city_suspended: false,
            victim,
            step: 0,
            log: vec![format!("seed {seed}: kills favour {victim}")],
            changed_at: BTreeMap::new(),
            reconciled: BTreeMap::new(),
            fresh: BTreeSet::new(),
            deaths: BTreeMap::new(),
            dead_pending: BTreeSet::new(),
            quarantined: BTreeMap::new(),
            external_stop: false,
            beads_made: 0,
            coverage: Coverage::default(),
        })
    }

    fn fail(&self, message: String) -> Failure {
        Failure { seed: self.seed, step: self.step, message, log: self.log.clone() }
    }

    /// Runs `steps` random steps, checking the invariants after each.
    fn run(&mut self, steps: usize) -> Result<(), Failure> {
        for _ in 0..steps {
            self.step_with(|chaos, before| chaos.random_step(before))?;
        }
        Ok(())
    }

    /// Runs one step, `act` (given the sessions before it; it returns a line for the log), and
    /// checks the invariants after it.
    fn step_with(
        &mut self,
        act: impl FnOnce(&mut Chaos, &[SessionInfo]) -> Result<String, String>,
    ) -> Result<(), Failure> {
        self.step += 1;
        let before = self.sessions().map_err(|e| self.fail(e))?;
        let calls_before = self.fake.calls().len();
        self.fresh.clear();
        self.external_stop = false;
        let line = match act(self, &before) {
            Ok(line) => line,
            Err(e) => {
                self.log.push(format!("step {}: failed", self.step));
                return Err(self.fail(e));
            }
        };
        let calls: Vec<Call> = self.fake.calls().split_off(calls_before);
        let after = self.sessions().map_err(|e| self.fail(e))?;
        self.log.push(format!("step {}: {line} | {}", self.step, summary(&after)));
        self.after_step(&calls);
        self.check(&before, &after, &calls).map_err(|e| self.fail(e))
    }

    /// Whether `session` runs (its program is alive).
    fn is_live(&self, session: &str) -> bool {
        self.fake.is_running(session).unwrap_or(false)
    }

    fn sessions(&self) -> Result<Vec<SessionInfo>, String> {
        self.fake.list("").map_err(err)
    }

    fn is_off(&self, agent: &str) -> bool {
        let d = self.desired.get(agent).copied().unwrap_or_default();
        self.city_suspended || !d.present || d.suspended
    }

    /// Picks and carries out one step; returns a line for the log.
    fn random_step(&mut self, before: &[SessionInfo]) -> Result<String, String> {
        let total: usize = STEP_WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(total);
        let kind = STEP_WEIGHTS
            .iter()
            .find(|(_, weight)| {
                let hit = roll < *weight;
                roll = roll.saturating_sub(*weight);
                hit
            })
            .map_or("reconcile all", |(kind, _)| kind);
        let line = match kind {
            "reconcile all" => self.reconcile_all(before)?,
            "reconcile one" => self.reconcile_one(before)?,
            "sweep" => self.sweep(before)?,
            "kill session" => self.kill(before),
            "vanish session" => self.vanish(before)?,
            "kill controller" => self.kill_controller(),
            "change env" => self.change_env()?,
            "suspend or resume agent" => self.toggle_suspend()?,
            "suspend or resume city" => self.toggle_city()?,
            "delete agent" => self.delete_agent()?,
            "re-add agent" => self.re_add()?,
            "sling" => self.sling()?,
            "claim" => self.claim(before)?,
            "close" => self.close()?,
            _ => self.reset()?,
        };
        *self.coverage.steps.entry(kind).or_default() += 1;
        Ok(line)
    }

    /// Whether `agent`, if turned off, may still keep its sessions after a reconcile now: an
    /// applied agent depending on it is off and still runs.
    fn may_wait(&self, agent: &str, sessions: &[SessionInfo]) -> bool {
        AGENTS.iter().any(|d| {
            d.depends_on.contains(&agent)
                && self.desired[d.name].present
                && self.is_off(d.name)
                && sessions.iter().any(|s| s.alive && owner(s) == Some(d.name))
        })
    }

    fn mark_reconciled(&mut self, agents: &[&'static str], before: &[SessionInfo]) {
        for agent in agents {
            let may_wait = self.may_wait(agent, before);
            self.reconciled.insert(agent, Reconciled { step: self.step, may_wait });
            self.fresh.insert(agent);
        }
    }

    fn reconcile_all(&mut self, before: &[SessionInfo]) -> Result<String, String> {
        let outcome =
            reconcile::reconcile_all(&self.ctx).map_err(|e| format!("reconcile_all: {e}"))?;
        let all: Vec<&'static str> = AGENTS.iter().map(|d| d.name).collect();
        self.mark_reconciled(&all, before);
        Ok(format!("reconcile all ({} actions)", outcome.actions))
    }

    fn reconcile_one(&mut self, before: &[SessionInfo]) -> Result<String, String> {
        let agent = AGENTS[self.rng.below(AGENTS.len())].name;
        self.reconcile_agent(agent, before)
    }

    fn reconcile_agent(
        &mut self,
        agent: &'static str,
        before: &[SessionInfo],
    ) -> Result<String, String> {
        let outcome = reconcile::reconcile_agent(&self.ctx, agent)
            .map_err(|e| format!("reconcile_agent({agent}): {e}"))?;
        self.mark_reconciled(&[agent], before);
        Ok(format!("reconcile {agent} ({} actions)", outcome.actions))
    }

    fn sweep(&mut self, before: &[SessionInfo]) -> Result<String, String> {
        let outcome = reconcile::sweep(&self.ctx).map_err(|e| format!("sweep: {e}"))?;
        // The sweep is where deleted agents are reconciled: their sessions stopped, their
        // status cleared.
        let swept: Vec<&'static str> =
            AGENTS.iter().map(|d| d.name).filter(|a| !self.desired[a].present).collect();
        self.mark_reconciled(&swept, before);
        Ok(format!("sweep ({} actions)", outcome.actions))
    }

    fn kill(&mut self, before: &[SessionInfo]) -> String {
        let live: Vec<&SessionInfo> = before.iter().filter(|s| s.alive).collect();
        let victims: Vec<&SessionInfo> =
            live.iter().copied().filter(|s| owner(s) == Some(self.victim)).collect();
        let pool = if !victims.is_empty() && self.rng.below(4) != 0 { victims } else { live };
        let Some(session) = self.rng.pick(&pool).map(|s| s.name.clone()) else {
            return "kill: no live session".to_owned();
        };
        let status = *self.rng.pick(&[1, 2, 137, 143]).unwrap_or(&1);
        self.kill_session(&session, status)
    }

    /// The program of `session` exits with `status`, as a crash would.
    fn kill_session(&mut self, session: &str, status: i32) -> String {
        if !self.fake.kill(session, status) {
            return format!("kill {session}: no such session");
        }
        *self.deaths.entry(session.to_owned()).or_default() += 1;
        self.dead_pending.insert(session.to_owned());
        // Past any crash backoff, so whether the next reconcile restarts does not depend on
        // how fast this machine is.
        std::thread::sleep(PAST_BACKOFF);
        format!("kill {session} (status {status})")
    }

    /// A session that disappears outright (its tmux session killed by hand).
    fn vanish(&mut self, before: &[SessionInfo]) -> Result<String, String> {
        let live: Vec<&SessionInfo> = before.iter().filter(|s| s.alive).collect();
        let Some(session) = self.rng.pick(&live).map(|s| s.name.clone()) else {
            return Ok("vanish: no live session".to_owned());
        };
        self.fake.stop(&session, Duration::ZERO).map_err(err)?;
        self.external_stop = true;
        *self.deaths.entry(session.clone()).or_default() += 1;
        self.dead_pending.insert(session.clone());
        std::thread::sleep(PAST_BACKOFF);
        Ok(format!("vanish {session}"))
    }

    /// The controller process dies and another starts: what it kept in memory is gone, what
    /// is on disk and the sessions remain.
    fn kill_controller(&mut self) -> String {
        self.ctx = Context::new(self.city.clone(), self.watched.clone(), "chaos");
        self.coverage.controller_kills += 1;
        "kill the controller (a new one starts)".to_owned()
    }

    /// Applies `agent` as `desired` (with `-f` its file, or the whole city); a refusal leaves
    /// files and store as they were.
    fn apply_agent(&mut self, agent: &'static str, desired: Desired) -> Result<String, String> {
        let path = agent_file(&self.city, agent);
        let old = std::fs::read_to_string(&path).ok();
        std::fs::write(&path, agent_yaml(def(agent), desired)).map_err(err)?;
        let whole = self.rng.below(3) == 0;
        let files = if whole { Vec::new() } else { vec![path.clone()] };
        let how = if whole { "gc apply" } else { "gc apply -f" };
        match apply(&self.city, &files) {
            Ok(()) => {
                self.desired.insert(agent, desired);
                self.changed_at.insert(agent, self.step);
                Ok(format!("{how} agent/{agent} {desired:?}"))
            }
            Err(why) => {
                match old {
                    Some(old) => std::fs::write(&path, old).map_err(err)?,
                    None => std::fs::remove_file(&path).map_err(err)?,
                }
                self.coverage.refused_applies += 1;
                Ok(format!("{how} agent/{agent} {desired:?} refused: {why}"))
            }
        }
    }

    fn present_agents(&self) -> Vec<&'static str> {
        AGENTS.iter().map(|d| d.name).filter(|a| self.desired[a].present).collect()
    }

    fn change_env(&mut self) -> Result<String, String> {
        let mut agents = self.present_agents();
        // Half the time the agent whose policy restarts at once: drift it acts on.
        if agents.contains(&"builder") && self.rng.below(2) == 0 {
            agents = vec!["builder"];
        }
        let Some(&agent) = self.rng.pick(&agents) else {
            return Ok("change env: no agent applied".to_owned());
        };
        let mut d = self.desired[agent];
        d.rev += 1;
        self.apply_agent(agent, d)
    }

    fn toggle_suspend(&mut self) -> Result<String, String> {
        let mut agents = self.present_agents();
        // Half the time the kills' favourite: a crash-looped agent suspended and resumed.
        if agents.contains(&self.victim) && self.rng.below(2) == 0 {
            agents = vec![self.victim];
        }
        let Some(&agent) = self.rng.pick(&agents) else {
            return Ok("suspend: no agent applied".to_owned());
        };
        let suspended = !self.desired[agent].suspended;
        self.set_suspended(agent, suspended)
    }

    fn set_suspended(&mut self, agent: &'static str, suspended: bool) -> Result<String, String> {
        let mut d = self.desired[agent];
        d.suspended = suspended;
        self.apply_agent(agent, d)
    }

    fn toggle_city(&mut self) -> Result<String, String> {
        let suspended = !self.city_suspended;
        let path = self.city.join("city.yaml");
        std::fs::write(&path, city_yaml(suspended)).map_err(err)?;
        match apply(&self.city, std::slice::from_ref(&path)) {
            Ok(()) => {
                self.city_suspended = suspended;
                for d in &AGENTS {
                    self.changed_at.insert(d.name, self.step);
                }
                Ok(format!("gc apply -f city.yaml (suspended: {suspended})"))
            }
            Err(why) => {
                std::fs::write(&path, city_yaml(!suspended)).map_err(err)?;
                self.coverage.refused_applies += 1;
                Ok(format!("city suspended: {suspended} refused: {why}"))
            }
        }
    }

    fn delete_agent(&mut self) -> Result<String, String> {
        let Some(&agent) = self.rng.pick(&self.present_agents()) else {
            return Ok("delete: no agent applied".to_owned());
        };
        self.delete_named(agent)
    }

    fn delete_named(&mut self, agent: &'static str) -> Result<String, String> {
        delete(&self.city, agent)?;
        std::fs::remove_file(agent_file(&self.city, agent)).map_err(err)?;
        let mut d = self.desired[agent];
        d.present = false;
        self.desired.insert(agent, d);
        self.changed_at.insert(agent, self.step);
        Ok(format!("gc delete agent/{agent}"))
    }

    fn re_add(&mut self) -> Result<String, String> {
        let deleted: Vec<&'static str> =
            AGENTS.iter().map(|d| d.name).filter(|a| !self.desired[a].present).collect();
        let Some(&agent) = self.rng.pick(&deleted) else {
            return self.change_env();
        };
        self.re_add_named(agent)
    }

    fn re_add_named(&mut self, agent: &'static str) -> Result<String, String> {
        let mut d = self.desired[agent];
        d.present = true;
        self.apply_agent(agent, d)
    }

    /// `gc sling worker "task-N"`.
    fn sling(&mut self) -> Result<String, String> {
        let model = CityModel::load(&self.city, &Store::new(&self.city)).map_err(err)?;
        let (_, store) = match stores::open_for_agent(&model, "worker") {
            Ok(opened) => opened,
            Err(e) => return Ok(format!("gc sling worker refused: {e}")),
        };
        self.beads_made += 1;
        let title = format!("task-{}", self.beads_made);
        let slung = gascity::work::sling::sling(store.as_ref(), "worker", &title, "mayor")
            .map_err(|e| format!("sling: {e}"))?;
        Ok(format!("gc sling worker {title} ({})", slung.bead.id))
    }

    /// Beads routed to the worker pool with one of `statuses`, by title.
    fn worker_beads(&self, statuses: &[&str]) -> Result<Vec<gascity::beads::Bead>, String> {
        let query = ListQuery {
            statuses: statuses.iter().map(|s| (*s).to_owned()).collect(),
            metadata: vec![(ROUTED_TO.to_owned(), "worker".to_owned())],
            ..ListQuery::default()
        };
        let mut beads = self.beads.list(&query).map_err(|e| format!("listing beads: {e}"))?;
        beads.sort_by(|a, b| a.title.cmp(&b.title));
        Ok(beads)
    }

    /// A live pool member takes a routed bead, as `gc hook` then `bd update --claim` would.
    fn claim(&mut self, before: &[SessionInfo]) -> Result<String, String> {
        let members: Vec<&SessionInfo> =
            before.iter().filter(|s| s.alive && owner(s) == Some("worker")).collect();
        let open: Vec<_> = self
            .worker_beads(&[status::OPEN])?
            .into_iter()
            .filter(|b| b.assignee.is_empty())
            .collect();
        let (Some(member), Some(bead)) = (self.rng.pick(&members), self.rng.pick(&open)) else {
            return Ok("claim: no live member or no open work".to_owned());
        };
        let actor = actor_of(&member.name);
        self.beads.claim(&bead.id, &actor).map_err(|e| format!("claim: {e}"))?;
        self.coverage.claims += 1;
        Ok(format!("{actor} claims {} ({})", bead.title, bead.id))
    }

    /// A bead is closed: by the member holding it, or by the mayor when nobody holds it.
    fn close(&mut self) -> Result<String, String> {
        let beads = self.worker_beads(&[status::OPEN, status::IN_PROGRESS])?;
        let Some(bead) = self.rng.pick(&beads) else {
            return Ok("close: no open work".to_owned());
        };
        let actor =
            if bead.assignee.is_empty() { "mayor".to_owned() } else { bead.assignee.clone() };
        self.beads.close(&bead.id, Some("done"), &actor).map_err(|e| format!("close: {e}"))?;
        Ok(format!("{actor} closes {} ({})", bead.title, bead.id))
    }

    /// `gc session reset SESSION` of a quarantined session (else of any with a record).
    fn reset(&mut self) -> Result<String, String> {
        let now = SystemTime::now();
        let records = self.ledger.load().map_err(err)?;
        let quarantined: Vec<String> =
            records.iter().filter(|(_, r)| r.is_quarantined(now)).map(|(s, _)| s.clone()).collect();
        // Mostly quarantines; now and then a restart count that has not reached one.
        let candidates = if quarantined.is_empty() && self.rng.below(4) == 0 {
            records.keys().cloned().collect()
        } else {
            quarantined.clone()
        };
        let Some(session) = self.rng.pick(&candidates).cloned() else {
            return Ok("gc session reset: nothing to reset".to_owned());
        };
        self.reset_session(&session)
    }

    /// `gc session reset SESSION`.
    fn reset_session(&mut self, session: &str) -> Result<String, String> {
        let now = SystemTime::now();
        let was_quarantined =
            self.ledger.load().map_err(err)?.get(session).is_some_and(|r| r.is_quarantined(now));
        self.ledger.reset(session, now).map_err(err)?;
        self.quarantined.remove(session);
        // A death not yet restarted is still to be counted after the reset.
        let pending = usize::from(self.dead_pending.contains(session));
        self.deaths.insert(session.to_owned(), pending);
        if was_quarantined {
            self.coverage.quarantines_reset += 1;
        }
        // Restarts recorded later must be stamped after the reset marker.
        std::thread::sleep(PAST_BACKOFF);
        Ok(format!("gc session reset {session}"))
    }

    /// Bookkeeping from the calls a step made.
    fn after_step(&mut self, calls: &[Call]) {
        for (i, call) in calls.iter().enumerate() {
            if let Call::Start(name) = call {
                self.dead_pending.remove(name);
                if name.starts_with(&format!("gc-{CITY}-worker-")) {
                    self.coverage.pool_starts += 1;
                }
                let restarted =
                    calls[..i].iter().any(|c| matches!(c, Call::Stop(s, _) if s == name));
                if restarted && !self.external_stop {
                    self.coverage.drift_restarts += 1;
                }
            }
        }
    }

    /// Every invariant, after every step. Each holds only where it should: the one about off
    /// agents once the agent was reconciled after its change, the one about status for the
    /// statuses this step wrote; the others at all times.
    fn check(
        &mut self,
        before: &[SessionInfo],
        after: &[SessionInfo],
        calls: &[Call],
    ) -> Result<(), String> {
        self.no_duplicate_sessions(after)?;
        self.no_sessions_of_off_agents(after)?;
        self.no_start_while_quarantined(calls)?;
        self.quarantines_follow_real_crashes()?;
        self.status_agrees_with_sessions(after)?;
        self.no_surprise_stops(before, calls)?;
        Ok(())
    }

    /// Invariant 1: one live session per single-session agent; a pool runs at most `max`
    /// members unless more members than that hold in-progress work; no two live sessions
    /// share an instance token.
    fn no_duplicate_sessions(&self, after: &[SessionInfo]) -> Result<(), String> {
        let live: Vec<&SessionInfo> = after.iter().filter(|s| s.alive).collect();
        for def in &AGENTS {
            let mine: Vec<&str> = live
                .iter()
                .filter(|s| owner(s) == Some(def.name))
                .map(|s| s.name.as_str())
                .collect();
            match def.pool_max {
                None if mine.len() > 1 => {
                    return Err(format!("duplicate sessions: agent {} runs {mine:?}", def.name));
                }
                Some(max) if mine.len() > max => {
                    let busy = self.busy_members()?;
                    if mine.len() > max.max(busy.len()) {
                        return Err(format!(
                            "pool {} runs {} members {mine:?}: more than max {max} and more \
                             than the {} members holding work {busy:?}",
                            def.name,
                            mine.len(),
                            busy.len()
                        ));
                    }
                }
                _ => {}
            }
        }
        let mut instances = BTreeMap::new();
        for s in &live {
            if let Some(token) = s.meta.get(meta::INSTANCE)
                && let Some(other) = instances.insert(token.clone(), s.name.clone())
            {
                return Err(format!("{} and {other} share instance token {token}", s.name));
            }
        }
        Ok(())
    }

    /// Pool members (actors `worker-<n>`) holding in-progress beads.
    fn busy_members(&self) -> Result<BTreeSet<String>, String> {
        Ok(self
            .worker_beads(&[status::IN_PROGRESS])?
            .into_iter()
            .map(|b| b.assignee)
            .filter(|a| !a.is_empty())
            .collect())
    }

    /// Invariant 2: a deleted or suspended agent (or any agent of a suspended City) has no
    /// live session once it was reconciled after the change — unless, at that reconcile, an
    /// agent depending on it was being turned off too and still ran (it stops first).
    fn no_sessions_of_off_agents(&self, after: &[SessionInfo]) -> Result<(), String> {
        for def in &AGENTS {
            let agent = def.name;
            if !self.is_off(agent) {
                continue;
            }
            let Some(done) = self.reconciled.get(agent) else { continue };
            let changed = self.changed_at.get(agent).copied().unwrap_or(0);
            if done.step <= changed || done.may_wait {
                continue;
            }
            let live: Vec<&str> = after
                .iter()
                .filter(|s| s.alive && owner(s) == Some(agent))
                .map(|s| s.name.as_str())
                .collect();
            if !live.is_empty() {
                let why = match self.desired[agent] {
                    d if !d.present => "deleted",
                    d if d.suspended => "suspended",
                    _ => "in a suspended City",
                };
                return Err(format!(
                    "agent {agent} is {why} (since step {changed}) and was reconciled at step {}, \
                     yet {live:?} still run",
                    done.step
                ));
            }
        }
        Ok(())
    }

    /// Invariant 3: no session is started while quarantined: not while the crash ledger holds
    /// it quarantined (checked at each start), and not after a quarantine the test saw in the
    /// ledger until it ends or the test resets it (`gc session reset`), even if the ledger lost
    /// it meanwhile.
    fn no_start_while_quarantined(&self, calls: &[Call]) -> Result<(), String> {
        if let Some(v) = self.watched.violations().first() {
            return Err(v.clone());
        }
        let now = SystemTime::now();
        for call in calls {
            if let Call::Start(name) = call
                && let Some((step, until)) = self.quarantined.get(name)
                && now < *until
            {
                return Err(format!(
                    "{name} started though it was quarantined at step {step} and not reset since"
                ));
            }
        }
        Ok(())
    }

    /// Crash accounting is honest: the ledger holds no more restarts of a session than the
    /// times it really died (since its last reset), and a quarantined session really died
    /// `maxRestarts + 1` times: a session stopped on purpose and started again is no crash.
    fn quarantines_follow_real_crashes(&mut self) -> Result<(), String> {
        let now = SystemTime::now();
        let records = self.ledger.load().map_err(err)?;
        for (session, record) in &records {
            let deaths = self.deaths.get(session).copied().unwrap_or(0);
            if record.restarts.len() > deaths {
                return Err(format!(
                    "the crash ledger holds {} restarts of {session}, which died {deaths} times",
                    record.restarts.len()
                ));
            }
            if record.is_quarantined(now) {
                if deaths <= MAX_RESTARTS {
                    return Err(format!(
                        "{session} quarantined ({}) after dying {deaths} times",
                        record.quarantine_reason.clone().unwrap_or_default()
                    ));
                }
                if let Some(until) = record.quarantined_until
                    && !self.quarantined.contains_key(session)
                {
                    self.quarantined.insert(session.clone(), (self.step, until));
                    self.coverage.quarantines += 1;
                    self.log.push(format!("        (the ledger now holds {session} quarantined)"));
                }
            }
        }
        Ok(())
    }

    /// Invariant 4: the status the controller just wrote agrees with the sessions: `Running`
    /// means every wanted session is live, `Stopped` that none is, and a deleted agent keeps
    /// no status once reconciled.
    fn status_agrees_with_sessions(&self, after: &[SessionInfo]) -> Result<(), String> {
        let store = Store::new(&self.city);
        for agent in &self.fresh {
            let status = store.status_value(Kind::Agent, agent).map_err(err)?;
            let present = self.desired[agent].present;
            let Some(status) = status else {
                if present {
                    return Err(format!("agent {agent} was reconciled but has no status"));
                }
                continue;
            };
            if !present {
                return Err(format!(
                    "agent {agent} is deleted and was reconciled, yet its status remains \
                     (phase {})",
                    status["phase"]
                ));
            }
            let live: BTreeSet<&str> = after
                .iter()
                .filter(|s| s.alive && owner(s) == Some(*agent))
                .map(|s| s.name.as_str())
                .collect();
            let phase = status["phase"].as_str().unwrap_or_default();
            let rows: Vec<&str> = status["sessions"]
                .as_array()
                .map(|rows| rows.iter().filter_map(|r| r["name"].as_str()).collect())
                .unwrap_or_default();
            let desired = status["desiredSessions"].as_u64().unwrap_or(0) as usize;
            match phase {
                "Running" => {
                    let missing: Vec<&&str> = rows.iter().filter(|r| !live.contains(**r)).collect();
                    if !missing.is_empty() || live.len() < desired {
                        return Err(format!(
                            "agent {agent} says Running ({desired} wanted) but {missing:?} are \
                             not live (live: {live:?})"
                        ));
                    }
                }
                "Stopped" if !live.is_empty() => {
                    return Err(format!("agent {agent} says Stopped but {live:?} run"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// No surprise stops: the controller stops a live session only when its agent is off, when
    /// a pool scales down a member that holds no work, or to restart it on drift when the
    /// agent's policy is `Immediate` (a `WhenIdle` session here is never quiet long enough, a
    /// `Never` one never restarts).
    fn no_surprise_stops(&self, before: &[SessionInfo], calls: &[Call]) -> Result<(), String> {
        if self.external_stop {
            return Ok(());
        }
        let mut busy: Option<BTreeSet<String>> = None;
        for (i, call) in calls.iter().enumerate() {
            let Call::Stop(name, _) = call else { continue };
            let Some(session) = before.iter().find(|s| s.name == *name && s.alive) else {
                continue;
            };
            let Some(agent) = owner(session) else { continue };
            if self.is_off(agent) {
                continue;
            }
            let def = def(agent);
            let started_again = calls[i..].iter().any(|c| matches!(c, Call::Start(s) if s == name));
            if started_again && def.on_drift == "Immediate" {
                continue;
            }
            if def.pool_max.is_some() && !started_again {
                let busy = match &busy {
                    Some(busy) => busy,
                    None => busy.insert(self.busy_members()?),
                };
                if !busy.contains(&actor_of(name)) {
                    continue;
                }
                return Err(format!(
                    "pool member {name} was stopped while it holds in-progress work"
                ));
            }
            let how = if started_again { "restarted" } else { "stopped" };
            return Err(format!(
                "{name} of agent {agent} (onDrift {}) was {how} though the agent is on",
                def.on_drift
            ));
        }
        Ok(())
    }
}

/// `live: mayor worker-1; dead: builder` for the log.
fn summary(sessions: &[SessionInfo]) -> String {
    let names = |alive: bool| -> Vec<String> {
        sessions.iter().filter(|s| s.alive == alive).map(|s| actor_of(&s.name)).collect()
    };
    let (live, dead) = (names(true), names(false));
    let mut out = format!("live: {}", if live.is_empty() { "-".into() } else { live.join(" ") });
    if !dead.is_empty() {
        out.push_str(&format!("; dead: {}", dead.join(" ")));
    }
    out
}

/// Runs one seed; a panic inside is reported like a broken invariant, with the log.
fn run_seed(seed: u64, steps: usize) -> Result<(Coverage, Vec<String>), Failure> {
    let mut chaos =
        Chaos::new(seed).map_err(|message| Failure { seed, step: 0, message, log: Vec::new() })?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| chaos.run(steps)));
    match result {
        Ok(Ok(())) => Ok((chaos.coverage.clone(), chaos.log.clone())),
        Ok(Err(failure)) => Err(failure),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(chaos.fail(format!("panicked: {what}")))
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[test]
fn random_interleavings_keep_the_agent_controller_invariants() {
    let replay = env_number("GC_CHAOS_SEED");
    let steps = env_number("GC_CHAOS_STEPS").map_or(STEPS, |n| n as usize);
    let seeds: Vec<u64> = match replay {
        Some(seed) => vec![seed],
        None => SEEDS.collect(),
    };
    let mut coverage = Coverage::default();
    let mut failures = Vec::new();
    for seed in seeds {
        match run_seed(seed, steps) {
            Ok((seen, log)) => {
                coverage.add(&seen);
                if replay.is_some() {
                    println!("{}", log.join("\n"));
                }
            }
            Err(failure) => failures.push(failure),
        }
    }
    if let Some(first) = failures.first() {
        let others: String = failures[1..]
            .iter()
            .map(|f| format!("also seed {} at step {}: {}\n", f.seed, f.step, f.message))
            .collect();
        panic!("{}{others}", first.report());
    }
    println!("chaos coverage: {coverage:?}");
    if replay.is_none() {
        // The fixed seeds must reach the states the invariants are about, or passing says
        // little: a crash loop into quarantine, its reset, drift restarts, a scaled pool with
        // work held, a controller restart, every kind of step.
        assert!(coverage.quarantines > 0, "no seed crash-looped a session into quarantine");
        assert!(coverage.quarantines_reset > 0, "no seed reset a quarantined session");
        assert!(coverage.drift_restarts > 0, "no seed restarted a drifted session");
        assert!(coverage.pool_starts > 0, "no seed scaled the pool up");
        assert!(coverage.claims > 0, "no seed had a member claim work");
        assert!(coverage.controller_kills > 0, "no seed killed the controller");
        assert_eq!(
            coverage.steps.len(),
            STEP_WEIGHTS.len(),
            "some kinds of step never ran: {:?}",
            coverage.steps
        );
    }
}

/// Runs a scripted step, failing the test with the run's report if an invariant breaks.
fn scripted(
    chaos: &mut Chaos,
    act: impl FnOnce(&mut Chaos, &[SessionInfo]) -> Result<String, String>,
) {
    if let Err(failure) = chaos.step_with(act) {
        panic!("{}", failure.report());
    }
}

fn reconcile_all_step(chaos: &mut Chaos, before: &[SessionInfo]) -> Result<String, String> {
    chaos.reconcile_all(before)
}

#[test]
fn a_crash_looped_session_stays_quarantined_until_reset() {
    let mayor = "gc-chaos-mayor";
    let mut c = Chaos::new(1).unwrap_or_else(|e| panic!("{e}"));
    scripted(&mut c, reconcile_all_step);
    assert!(c.is_live(mayor), "{}", c.log.join("\n"));
    for _ in 0..MAX_RESTARTS {
        scripted(&mut c, |c, _| Ok(c.kill_session(mayor, 1)));
        scripted(&mut c, reconcile_all_step);
        assert!(c.is_live(mayor), "restarted after a crash:\n{}", c.log.join("\n"));
    }
    scripted(&mut c, |c, _| Ok(c.kill_session(mayor, 1)));
    scripted(&mut c, reconcile_all_step);
    assert!(c.quarantined.contains_key(mayor), "quarantined:\n{}", c.log.join("\n"));
    assert!(!c.is_live(mayor));

    // Nothing but a reset brings it back: not a new controller, not a suspend and resume,
    // not a delete and re-create.
    scripted(&mut c, |c, _| Ok(c.kill_controller()));
    scripted(&mut c, reconcile_all_step);
    scripted(&mut c, |c, _| c.set_suspended("mayor", true));
    scripted(&mut c, reconcile_all_step);
    scripted(&mut c, |c, _| c.set_suspended("mayor", false));
    scripted(&mut c, reconcile_all_step);
    assert!(!c.is_live(mayor), "resumed while quarantined:\n{}", c.log.join("\n"));
    scripted(&mut c, |c, _| c.delete_named("mayor"));
    scripted(&mut c, reconcile_all_step);
    scripted(&mut c, |c, _| c.re_add_named("mayor"));
    scripted(&mut c, reconcile_all_step);
    assert!(!c.is_live(mayor), "re-created while quarantined:\n{}", c.log.join("\n"));

    scripted(&mut c, |c, _| c.reset_session(mayor));
    scripted(&mut c, reconcile_all_step);
    assert!(c.is_live(mayor), "started after gc session reset:\n{}", c.log.join("\n"));
}

#[test]
fn suspending_and_resuming_an_agent_is_not_a_crash() {
    let mut c = Chaos::new(2).unwrap_or_else(|e| panic!("{e}"));
    scripted(&mut c, reconcile_all_step);
    for _ in 0..=MAX_RESTARTS {
        scripted(&mut c, |c, _| c.set_suspended("builder", true));
        scripted(&mut c, reconcile_all_step);
        assert!(!c.is_live("gc-chaos-builder"), "stopped:\n{}", c.log.join("\n"));
        scripted(&mut c, |c, _| c.set_suspended("builder", false));
        scripted(&mut c, reconcile_all_step);
        assert!(c.is_live("gc-chaos-builder"), "started again:\n{}", c.log.join("\n"));
    }
    let records = c.ledger.load().unwrap_or_default();
    assert_eq!(records.get("gc-chaos-builder"), None, "no crash history for builder");
}

#[test]
fn a_deleted_agent_without_sessions_loses_its_status_in_the_sweep() {
    let mut c = Chaos::new(3).unwrap_or_else(|e| panic!("{e}"));
    scripted(&mut c, reconcile_all_step);
    let store = Store::new(&c.city);
    assert!(store.status_value(Kind::Agent, "worker").ok().flatten().is_some());
    // The pool has no work, so no members: nothing for the sweep to stop.
    scripted(&mut c, |c, _| c.delete_named("worker"));
    scripted(&mut c, |c, before| c.sweep(before));
    assert_eq!(store.status_value(Kind::Agent, "worker").ok().flatten(), None);
}

/// A fresh, converged chaos city, for planting violations in.
fn converged(seed: u64) -> Chaos {
    let mut c = Chaos::new(seed).unwrap_or_else(|e| panic!("{e}"));
    scripted(&mut c, reconcile_all_step);
    c
}

/// What `act` breaks, as the invariant checks report it.
fn violation(
    chaos: &mut Chaos,
    act: impl FnOnce(&mut Chaos, &[SessionInfo]) -> Result<String, String>,
) -> String {
    match chaos.step_with(act) {
        Ok(()) => panic!("the invariant checks missed it:\n{}", chaos.log.join("\n")),
        Err(failure) => {
            let report = failure.report();
            assert!(report.contains("replay: GC_CHAOS_SEED="), "{report}");
            failure.message
        }
    }
}

/// A session of `agent` started behind the controller's back.
fn start_by_hand(chaos: &Chaos, agent: &str) -> Result<(), String> {
    let config = SessionConfig {
        name: format!("gc-{CITY}-{agent}"),
        work_dir: chaos.city.clone(),
        argv: vec!["fake-agent".to_owned()],
        meta: BTreeMap::from([(meta::AGENT.to_owned(), agent.to_owned())]),
        ..SessionConfig::default()
    };
    chaos.watched.start(&config).map_err(err)
}

#[test]
fn the_invariant_checks_catch_a_controller_that_breaks_them() {
    // A session of a suspended agent, after the controller stopped it.
    let mut c = converged(11);
    scripted(&mut c, |c, _| c.set_suspended("builder", true));
    scripted(&mut c, reconcile_all_step);
    let found = violation(&mut c, |c, _| start_by_hand(c, "builder").map(|()| "start".into()));
    assert!(found.contains("builder is suspended"), "{found}");

    // Two sessions of one agent.
    let mut c = converged(12);
    let found = violation(&mut c, |c, _| {
        start_by_hand(c, "builder-2").map_err(err)?;
        c.fake.set_meta("gc-chaos-builder-2", meta::AGENT, "builder").map_err(err)?;
        Ok("a second builder".into())
    });
    assert!(found.contains("duplicate sessions: agent builder"), "{found}");

    // A start while the ledger holds the session quarantined.
    let mut c = converged(13);
    let found = violation(&mut c, |c, _| {
        let now = SystemTime::now();
        let later = now + Duration::from_secs(3600);
        c.ledger.quarantine("gc-chaos-builder", now, later, "planted").map_err(err)?;
        c.kill_session("gc-chaos-builder", 1);
        start_by_hand(c, "builder").map(|()| "quarantine, then start".into())
    });
    assert!(found.contains("started while the crash ledger holds it quarantined"), "{found}");

    // A restart recorded for a session that never died.
    let mut c = converged(14);
    let found = violation(&mut c, |c, _| {
        c.ledger.record_restart("gc-chaos-mayor", SystemTime::now()).map_err(err)?;
        Ok("a restart out of nowhere".into())
    });
    assert!(found.contains("which died 0 times"), "{found}");

    // A status that says Running over a dead session.
    let mut c = converged(15);
    let found = violation(&mut c, |c, before| {
        c.reconcile_agent("mayor", before)?;
        Ok(c.kill_session("gc-chaos-mayor", 1))
    });
    assert!(found.contains("mayor says Running"), "{found}");

    // A live session of an agent that is on, stopped.
    let mut c = converged(16);
    let found = violation(&mut c, |c, _| {
        c.watched.stop("gc-chaos-mayor", Duration::ZERO).map(|()| "stop".into()).map_err(err)
    });
    assert!(found.contains("was stopped though the agent is on"), "{found}");
}
