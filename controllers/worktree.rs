//! Git worktrees of `isolation: worktree` sessions: created before a session starts (with a
//! `.beads/redirect` to the rig's store), and removed once nothing wants them — but only when
//! they hold no uncommitted work; otherwise they are kept and a `worktree.kept` event says why.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::git;
use super::launch::{self, Worktree};
use super::model::CityModel;
use super::reconcile::{Context, ReconcileError};
use super::rig_reconcile::emit;
use crate::api::Kind;
use crate::api::agent::Isolation;
use crate::beads::layout;
use crate::runtime::SessionInfo;

/// Makes sure `tree` exists as a worktree of its rig with a `.beads/redirect` to the rig's
/// store. Returns whether it was created now (an existing one is reused as it is, so work
/// left by an earlier session of the same member is picked up again).
pub fn ensure(tree: &Worktree) -> Result<bool, ReconcileError> {
    let created = if git::is_worktree(&tree.path) {
        false
    } else if tree.path.exists() {
        return Err(ReconcileError::Worktree(format!(
            "{} exists but is not a git worktree; move it away so a worktree of rig `{}` can \
             be made there",
            tree.path.display(),
            tree.rig
        )));
    } else {
        if !git::is_repo(&tree.rig_dir) {
            return Err(ReconcileError::Worktree(format!(
                "rig `{}` ({}) is not the top of a git repository: isolation: worktree needs one",
                tree.rig,
                tree.rig_dir.display()
            )));
        }
        if let Some(parent) = tree.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        git::add_worktree(&tree.rig_dir, &tree.path, &tree.branch)?;
        true
    };
    let rig_store = layout::rig_beads_dir(&tree.rig_dir);
    let redirect = layout::rig_beads_dir(&tree.path);
    if layout::follow_redirect(&redirect).ok().as_deref() != Some(rig_store.as_path())
        || !redirect.join(layout::REDIRECT_FILE).exists()
    {
        layout::write_redirect(&redirect, &rig_store)?;
    }
    Ok(created)
}

/// A worktree found under `.gc/worktrees/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The rig directory it is filed under.
    pub rig: String,
    /// The member (`<agent>` or `<agent>-<n>`) it is named after.
    pub member: String,
    /// Its path.
    pub path: PathBuf,
}

/// The worktrees on disk that nothing wants any more: no applied agent's session would work
/// in them, and no session of that member exists (a session still stopping keeps its tree).
/// Pure, given the model and the session names.
pub fn unwanted(model: &CityModel, found: &[Found], sessions: &BTreeSet<String>) -> Vec<Found> {
    // A damaged Agent or Rig may own any of them (its members and rig cannot be read): keep
    // every worktree until it is repaired or deleted.
    if model.damaged.keys().any(|(kind, _)| matches!(kind, Kind::Agent | Kind::Rig)) {
        return Vec::new();
    }
    let mut wanted = BTreeSet::new();
    for (name, agent) in &model.agents {
        if agent.spec.isolation != Isolation::Worktree {
            continue;
        }
        // From names alone, not from the launches: a prompt that fails to render must not
        // make an agent's worktree look abandoned.
        let Some(rig) = &agent.spec.rig else { continue };
        let members: Vec<u32> = match &agent.spec.scaling {
            // Every member a pool may run: members come and go with the work, and a worktree
            // is worth keeping between their runs.
            Some(scaling) => (1..=scaling.max.max(scaling.min)).collect(),
            None => vec![0],
        };
        for index in members {
            let member = launch::member_name(name, index);
            wanted.insert(launch::worktrees_dir(&model.dir, rig).join(member));
        }
    }
    let city = model.city_name();
    found
        .iter()
        .filter(|f| !wanted.contains(&f.path))
        .filter(|f| !sessions.contains(&format!("gc-{city}-{}", f.member)))
        .cloned()
        .collect()
}

/// Every `<city>/.gc/worktrees/<rig>/<member>` directory.
fn list(city_dir: &Path) -> Vec<Found> {
    let root = city_dir.join(".gc").join("worktrees");
    let dirs = |dir: &Path| -> Vec<(String, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut out: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        out.sort();
        out
    };
    let mut found = Vec::new();
    for (rig, rig_dir) in dirs(&root) {
        for (member, path) in dirs(&rig_dir) {
            found.push(Found { rig: rig.clone(), member, path });
        }
    }
    found
}

/// Removes the worktrees nothing wants when they are clean; reports (once) those kept.
/// Returns how many were removed.
pub fn sweep(ctx: &Context, model: &CityModel, observed: &[SessionInfo]) -> usize {
    let found = list(&model.dir);
    if found.is_empty() {
        return 0;
    }
    let sessions: BTreeSet<String> = observed.iter().map(|s| s.name.clone()).collect();
    let mut removed = 0;
    for tree in unwanted(model, &found, &sessions) {
        match release(&tree) {
            Ok(()) => {
                removed += 1;
                ctx.reported_worktrees.lock().unwrap_or_else(|e| e.into_inner()).remove(&tree.path);
                emit(
                    ctx,
                    "worktree.removed",
                    "Released",
                    Some(&tree.rig),
                    format!(
                        "removed worktree {} (branch gc/{} kept)",
                        tree.path.display(),
                        tree.member
                    ),
                    json!({"path": tree.path.display().to_string(), "member": tree.member}),
                );
            }
            Err(kept) => {
                let mut reported = ctx.reported_worktrees.lock().unwrap_or_else(|e| e.into_inner());
                if reported.insert(tree.path.clone()) {
                    emit(
                        ctx,
                        "worktree.kept",
                        kept.reason,
                        Some(&tree.rig),
                        format!("kept worktree {}: {}", tree.path.display(), kept.message),
                        json!({
                            "path": tree.path.display().to_string(),
                            "member": tree.member,
                            "changes": kept.changes,
                        }),
                    );
                }
            }
        }
    }
    removed
}

/// Why a worktree was kept.
struct Kept {
    reason: &'static str,
    message: String,
    changes: Vec<String>,
}

/// Removes `tree` when it holds no uncommitted work.
fn release(tree: &Found) -> Result<(), Kept> {
    if !git::is_worktree(&tree.path) {
        // Never run git in it: it would answer for whatever repository holds the city.
        return Err(Kept {
            reason: "NotAWorktree",
            message: "it is not a git worktree; remove it by hand".into(),
            changes: Vec::new(),
        });
    }
    let changes = git::uncommitted(&tree.path).map_err(|e| Kept {
        reason: "StatusFailed",
        message: e.to_string(),
        changes: Vec::new(),
    })?;
    if !changes.is_empty() {
        const SHOWN: usize = 20;
        return Err(Kept {
            reason: "UncommittedWork",
            message: format!(
                "it has uncommitted work ({} change(s)); commit or discard it and it is \
                 removed at the next pass",
                changes.len()
            ),
            changes: changes.into_iter().take(SHOWN).collect(),
        });
    }
    // gc's own redirect would count as untracked to git: take it away first.
    let beads = layout::rig_beads_dir(&tree.path);
    let _ = std::fs::remove_file(beads.join(layout::REDIRECT_FILE));
    let _ = std::fs::remove_dir(&beads);
    git::remove_worktree(&tree.path).map_err(|e| Kept {
        reason: "RemoveFailed",
        message: e.to_string(),
        changes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::agent::{AgentSpec, ScalingSpec};
    use crate::api::provider::ProviderSpec;
    use crate::api::rig::RigSpec;
    use crate::controllers::model::Applied;

    fn applied<S>(name: &str, spec: S) -> Applied<S> {
        Applied { name: name.into(), generation: 1, uid: "u".into(), spec }
    }

    #[test]
    fn only_trees_of_no_wanted_member_and_no_session_are_unwanted() {
        let mut model = CityModel { dir: "/c".into(), ..CityModel::default() };
        model.providers.insert(
            "p".into(),
            applied("p", ProviderSpec { command: "x".into(), ..ProviderSpec::default() }),
        );
        model
            .rigs
            .insert("r".into(), applied("r", RigSpec { path: "r".into(), ..RigSpec::default() }));
        let agent = |scaling| AgentSpec {
            provider: Some("p".into()),
            rig: Some("r".into()),
            isolation: Isolation::Worktree,
            scaling,
            ..AgentSpec::default()
        };
        model.agents.insert("solo".into(), applied("solo", agent(None)));
        model.agents.insert(
            "pool".into(),
            applied(
                "pool",
                agent(Some(ScalingSpec {
                    min: 1,
                    max: 3,
                    scale_check: None,
                    scale_check_timeout: crate::api::Duration::from_secs(30),
                })),
            ),
        );
        let tree = |member: &str| Found {
            rig: "r".into(),
            member: member.into(),
            path: PathBuf::from(format!("/c/.gc/worktrees/r/{member}")),
        };
        let found = [
            tree("solo"),
            tree("pool-1"),
            tree("pool-3"),
            tree("pool-4"),
            tree("gone"),
            tree("old"),
        ];
        let sessions = BTreeSet::from(["gc-c-old".to_owned()]);
        let names: Vec<String> =
            unwanted(&model, &found, &sessions).into_iter().map(|f| f.member).collect();
        // Pool members up to `max` keep their trees between runs.
        assert_eq!(names, ["pool-4", "gone"]);
    }
}
