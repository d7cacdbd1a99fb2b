//! The Rig planner: a rig's desired state (its path, repo, bead store) against what is on disk,
//! as actions and the status to record, plus the events a change of state deserves. Pure: the
//! executor ([`super::rig_reconcile`]) observes, acts and records.

use std::path::{Path, PathBuf};

use crate::api::status::{self, Condition, ConditionType, RigStatus};

use crate::api::rig::RigSpec;
use crate::beads::layout::{self, StoreConfig};

/// What is at a rig's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathState {
    /// Nothing.
    Missing,
    /// Something that is not a directory.
    NotADirectory,
    /// A directory; `git` when it is the top of a git checkout.
    Dir {
        /// Whether it holds `.git`.
        git: bool,
    },
}

/// The bead store in a beads directory, compared with the one wanted (`Ready`: configured as
/// wanted; a missing embedded database is not checked, opening the store creates it).
pub use crate::api::status::StoreState;

/// A failure the executor met carrying out this rig's actions in this pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `CloneFailed` or `StoreFailed`.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Everything the planner decides from.
#[derive(Clone, Debug)]
pub struct RigInput<'a> {
    /// The rig's name.
    pub name: &'a str,
    /// Its generation.
    pub generation: u64,
    /// Its spec.
    pub spec: &'a RigSpec,
    /// Its directory, absolute.
    pub dir: &'a Path,
    /// The store it should have (`work::stores::store_config`: one definition for the
    /// controller and the work verbs).
    pub store: &'a StoreConfig,
    /// What is at `dir`.
    pub path: PathState,
    /// Its store as found.
    pub store_state: StoreState,
    /// Agents on this rig that ask for `isolation: worktree` (they need a git repository).
    pub worktree_agents: &'a [String],
    /// The `Ready` reason last recorded, so events mark changes only.
    pub previous_reason: Option<&'a str>,
    /// What failed in this pass, if anything.
    pub failure: Option<&'a Failure>,
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RigAction {
    /// Clone `repo` into `dir`.
    Clone {
        /// The git URL (or path).
        repo: String,
        /// Where.
        dir: PathBuf,
    },
    /// Create or reconfigure the bead store in `dir`.
    InitStore {
        /// The beads directory.
        dir: PathBuf,
        /// Its configuration.
        config: StoreConfig,
    },
}

impl RigAction {
    /// One line for logs and the `Progressing` message.
    pub fn describe(&self) -> String {
        match self {
            RigAction::Clone { repo, dir } => format!("clone {repo} into {}", dir.display()),
            RigAction::InitStore { dir, config } => {
                format!("initialise the bead store in {} (prefix {})", dir.display(), config.prefix)
            }
        }
    }
}

/// An event to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RigEvent {
    /// `rig.path_missing`, `rig.ready`, ….
    pub event_type: &'static str,
    /// CamelCase reason.
    pub reason: &'static str,
    /// What happened.
    pub message: String,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct RigPlan {
    /// What to do, in order.
    pub actions: Vec<RigAction>,
    /// The status to record (`.gc/status/rigs/<name>.json`).
    pub status: RigStatus,
    /// Events for a change of state since the last recorded status (none when unchanged, so a
    /// missing path is reported once, not every pass).
    pub events: Vec<RigEvent>,
}

/// Plans one rig.
pub fn plan(input: &RigInput<'_>) -> RigPlan {
    let store_dir = layout::rig_beads_dir(input.dir);
    let mut actions = Vec::new();
    let (ready, reason, message): (bool, &'static str, String) = match (input.path, input.failure) {
        (PathState::Missing, Some(f)) if f.reason == "CloneFailed" => {
            (false, f.reason, f.message.clone())
        }
        (PathState::Missing, _) => match &input.spec.repo {
            Some(repo) => {
                actions.push(RigAction::Clone { repo: repo.clone(), dir: input.dir.to_path_buf() });
                (false, "Cloning", format!("cloning {repo} into {}", input.dir.display()))
            }
            None => (
                false,
                "PathMissing",
                format!(
                    "{} does not exist: create it, or set spec.repo to clone it; the rig's \
                     agents are not started until it exists",
                    input.dir.display()
                ),
            ),
        },
        (PathState::NotADirectory, _) => (
            false,
            "NotADirectory",
            format!("{} exists but is not a directory", input.dir.display()),
        ),
        (PathState::Dir { .. }, Some(f)) if f.reason == "StoreFailed" => {
            (false, f.reason, f.message.clone())
        }
        (PathState::Dir { git }, _) => {
            if input.store_state != StoreState::Ready {
                actions.push(RigAction::InitStore {
                    dir: store_dir.clone(),
                    config: input.store.clone(),
                });
                (false, "InitialisingStore", format!("initialising {}", store_dir.display()))
            } else if !git && !input.worktree_agents.is_empty() {
                (
                    false,
                    "NotAGitRepo",
                    format!(
                        "{} is not the top of a git repository, but agent(s) {} ask for \
                         isolation: worktree; make it one (git init) or set their isolation \
                         to none",
                        input.dir.display(),
                        input.worktree_agents.join(", ")
                    ),
                )
            } else {
                (true, "Ready", format!("bead store ready (prefix {})", input.store.prefix))
            }
        }
    };

    let mut events = Vec::new();
    if input.previous_reason != Some(reason) {
        let event = |event_type, reason| RigEvent { event_type, reason, message: message.clone() };
        match reason {
            "PathMissing" => events.push(event("rig.path_missing", "PathMissing")),
            "NotADirectory" => events.push(event("rig.path_invalid", "NotADirectory")),
            "NotAGitRepo" => events.push(event("rig.not_git_repo", "NotAGitRepo")),
            "CloneFailed" => events.push(event("rig.clone_failed", "CloneFailed")),
            "StoreFailed" => events.push(event("rig.store_failed", "StoreFailed")),
            // Back to ready after something was wrong (not on every first success).
            "Ready" if input.previous_reason.is_some_and(|r| r != "Ready") => {
                events.push(event("rig.ready", "Ready"))
            }
            _ => {}
        }
    }

    let (path_exists, git) = match input.path {
        PathState::Dir { git } => (true, git),
        PathState::NotADirectory => (true, false),
        PathState::Missing => (false, false),
    };
    let store = input.store_state;
    let progressing = actions.iter().map(RigAction::describe).collect::<Vec<_>>().join("; ");
    let status = RigStatus {
        observed_generation: input.generation,
        path: input.dir.display().to_string(),
        path_exists,
        git,
        prefix: input.store.prefix.clone(),
        store_dir: store_dir.display().to_string(),
        backend: input.store.backend,
        store,
        conditions: vec![
            Condition::new(ConditionType::Ready, ready, reason, message),
            status::progressing(progressing),
        ],
    };
    RigPlan { actions, status, events }
}

/// The `Ready` reason of a recorded rig status.
pub fn ready_reason(status: &RigStatus) -> Option<&str> {
    status::condition(&status.conditions, ConditionType::Ready).map(|c| c.reason.as_str())
}

#[cfg(test)]
mod tests {

    /// A status as the JSON it is written as.
    fn json_of<T: serde::Serialize>(status: &T) -> serde_json::Value {
        serde_json::to_value(status).unwrap()
    }
    use super::*;
    use crate::api::city::BeadsBackend;

    struct Case {
        spec: RigSpec,
        path: PathState,
        store_state: StoreState,
        worktree_agents: Vec<String>,
        previous: Option<&'static str>,
        failure: Option<Failure>,
    }

    impl Case {
        fn new(path: PathState) -> Case {
            Case {
                spec: RigSpec { path: "proj".into(), ..RigSpec::default() },
                path,
                store_state: StoreState::Ready,
                worktree_agents: Vec::new(),
                previous: None,
                failure: None,
            }
        }

        fn plan(&self) -> RigPlan {
            let store = StoreConfig {
                prefix: self.spec.effective_prefix("my-proj"),
                backend: BeadsBackend::Embedded,
                command: None,
                city: Some("/city".into()),
                rig: Some("my-proj".into()),
                ..StoreConfig::embedded("")
            };
            plan(&RigInput {
                name: "my-proj",
                generation: 3,
                spec: &self.spec,
                dir: Path::new("/city/proj"),
                store: &store,
                path: self.path,
                store_state: self.store_state,
                worktree_agents: &self.worktree_agents,
                previous_reason: self.previous,
                failure: self.failure.as_ref(),
            })
        }
    }

    fn reason(plan: &RigPlan) -> &str {
        ready_reason(&plan.status).unwrap()
    }

    fn event_types(plan: &RigPlan) -> Vec<&str> {
        plan.events.iter().map(|e| e.event_type).collect()
    }

    #[test]
    fn a_missing_path_without_a_repo_is_reported_once() {
        let mut case = Case::new(PathState::Missing);
        let plan = case.plan();
        assert!(plan.actions.is_empty(), "nothing is created out of thin air");
        assert_eq!(reason(&plan), "PathMissing");
        assert_eq!(json_of(&plan.status)["conditions"][0]["status"], "False");
        assert_eq!(json_of(&plan.status)["pathExists"], false);
        assert_eq!(event_types(&plan), ["rig.path_missing"]);
        assert!(plan.events[0].message.contains("/city/proj does not exist"));
        case.previous = Some("PathMissing");
        assert!(case.plan().events.is_empty(), "not again on the next pass");
    }

    #[test]
    fn a_missing_path_with_a_repo_is_cloned_and_a_failed_clone_reported() {
        let mut case = Case::new(PathState::Missing);
        case.spec.repo = Some("https://example.com/p.git".into());
        let plan = case.plan();
        assert_eq!(
            plan.actions,
            [RigAction::Clone {
                repo: "https://example.com/p.git".into(),
                dir: PathBuf::from("/city/proj")
            }]
        );
        assert_eq!(reason(&plan), "Cloning");
        assert!(plan.events.is_empty());

        case.failure =
            Some(Failure { reason: "CloneFailed", message: "`git clone` failed: nope".into() });
        let plan = case.plan();
        assert!(plan.actions.is_empty());
        assert_eq!(reason(&plan), "CloneFailed");
        assert_eq!(event_types(&plan), ["rig.clone_failed"]);
    }

    #[test]
    fn the_store_is_initialised_with_the_rigs_prefix_then_left_alone() {
        let mut case = Case::new(PathState::Dir { git: false });
        case.store_state = StoreState::Missing;
        let plan = case.plan();
        let [RigAction::InitStore { dir, config }] = plan.actions.as_slice() else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(dir, Path::new("/city/proj/.beads"));
        assert_eq!(config.prefix, "mp");
        assert_eq!(config.rig.as_deref(), Some("my-proj"));

        case.store_state = StoreState::Ready;
        let plan = case.plan();
        assert!(plan.actions.is_empty());
        assert_eq!(reason(&plan), "Ready");
        assert_eq!(json_of(&plan.status)["prefix"], "mp");
        assert_eq!(json_of(&plan.status)["storeDir"], "/city/proj/.beads");
        assert_eq!(json_of(&plan.status)["store"], "ready");
        assert!(plan.events.is_empty(), "a first success is not news");

        case.spec.prefix = Some("px".into());
        case.store_state = StoreState::Differs;
        let plan = case.plan();
        assert!(
            matches!(&plan.actions[..], [RigAction::InitStore { config, .. }] if config.prefix == "px")
        );
    }

    #[test]
    fn worktree_agents_need_a_git_repository() {
        let mut case = Case::new(PathState::Dir { git: false });
        case.worktree_agents = vec!["coder".into()];
        let plan = case.plan();
        assert_eq!(reason(&plan), "NotAGitRepo");
        assert!(plan.events[0].message.contains("coder"), "{:?}", plan.events);
        case.path = PathState::Dir { git: true };
        case.previous = Some("NotAGitRepo");
        let plan = case.plan();
        assert_eq!(reason(&plan), "Ready");
        assert_eq!(event_types(&plan), ["rig.ready"], "recovery is news");
    }

    #[test]
    fn a_file_in_the_way_is_an_error_not_a_clone() {
        let mut case = Case::new(PathState::NotADirectory);
        case.spec.repo = Some("x".into());
        let plan = case.plan();
        assert!(plan.actions.is_empty());
        assert_eq!(reason(&plan), "NotADirectory");
    }
}
