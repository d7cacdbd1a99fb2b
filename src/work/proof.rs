//! Verified completion: a close that names the commit that did the work, checked against the
//! rig's repository before the bead is closed, so "done" means a commit that exists (and is
//! merged, when the rig names a target branch). Rigs ask it of every bead
//! (`completion.requireCommit`), formula steps of theirs (`requireCommit`).

use std::path::{Path, PathBuf};

use crate::beads::{Bead, BeadError, Result};
use crate::controllers::git;
use crate::controllers::model::CityModel;

/// Bead metadata: closing it needs a commit (set by formula steps with `requireCommit`).
pub const REQUIRE_COMMIT: &str = "gc.require_commit";
/// Bead metadata: the commit its close proved.
pub const COMMIT: &str = "gc.commit";
/// Bead metadata: the branch the proved commit was found on.
pub const COMMIT_ON: &str = "gc.commit_on";

/// What closing a bead of one store must prove, from the rig the store belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// The rig's name and its repository's directory (none for the city's own store).
    pub rig: Option<(String, PathBuf)>,
    /// Every close needs a commit.
    pub require_commit: bool,
    /// A close's commit must be reachable from this ref.
    pub target_branch: Option<String>,
}

impl Rules {
    /// The rules of `rig`'s store in `model` (none for the city's store).
    pub fn for_rig(model: &CityModel, rig: Option<&str>) -> Rules {
        let Some((name, applied)) = rig.and_then(|r| Some((r, model.rigs.get(r)?))) else {
            return Rules::default();
        };
        let completion = applied.spec.completion.clone().unwrap_or_default();
        Rules {
            rig: Some((name.to_owned(), model.rig_dir(&applied.spec))),
            require_commit: completion.require_commit,
            target_branch: completion.target_branch,
        }
    }

    /// The rules of the store in `dir`, from its config (which names its city and rig). A
    /// store outside a city, or whose city cannot be read, asks for nothing.
    pub fn for_store(dir: &Path) -> Rules {
        let Ok(config) = crate::beads::layout::StoreConfig::read(dir) else {
            return Rules::default();
        };
        let (Some(city), Some(rig)) = (config.city, config.rig) else { return Rules::default() };
        match CityModel::load_specs(&city, &crate::store::Store::new(&city)) {
            Ok(model) => Rules::for_rig(&model, Some(&rig)),
            Err(e) => {
                tracing::warn!("cannot read the city at {} for rig {rig}: {e}", city.display());
                Rules::default()
            }
        }
    }
}

/// The commit a close offers as proof.
#[derive(Clone, Copy, Debug)]
pub enum Offered<'a> {
    /// Named on the command line (`--commit SHA`).
    Commit(&'a str),
    /// The `HEAD` of the checkout the close runs in (an agent's worktree), used when a
    /// commit is needed and none was named.
    Head(&'a Path),
    /// None (the dashboard without a commit).
    Nothing,
}

/// A commit a close proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proven {
    /// Its full id.
    pub commit: String,
    /// The branch it was found on, when the rig names one.
    pub on: Option<String>,
}

/// Metadata of review-only work (a formula's `reviewOnly`): it closes without a commit.
pub const REVIEW_ONLY: &str = "gc.review_only";

/// Whether `bead` needs a commit to close under `rules` (review-only work never does).
pub fn needs_commit(rules: &Rules, bead: &Bead) -> bool {
    // `true`, or the text "true" (formula step metadata is text).
    let flag = |key: &str| {
        bead.metadata
            .get(key)
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"))
    };
    !flag(REVIEW_ONLY) && (rules.require_commit || flag(REQUIRE_COMMIT))
}

/// Checks what a close of `bead` offers: `Ok(None)` when nothing is needed and nothing was
/// named, the proven commit when it holds, and a refusal an agent can act on otherwise. A
/// commit named on the command line is always checked, needed or not.
pub fn check(rules: &Rules, bead: &Bead, offered: Offered<'_>) -> Result<Option<Proven>> {
    let needed = needs_commit(rules, bead);
    let id = &bead.id;
    let whose = match &rules.rig {
        Some((rig, _)) => format!("rig `{rig}`"),
        None => "its formula step".to_owned(),
    };
    let on = rules.target_branch.as_deref().map(|b| format!(" on {b}")).unwrap_or_default();
    let (named, cwd) = match offered {
        Offered::Commit(named) => (Some(named.trim().to_owned()), None),
        Offered::Head(cwd) if needed => (head_of(cwd), Some(cwd)),
        Offered::Head(_) | Offered::Nothing if !needed => return Ok(None),
        Offered::Head(cwd) => (None, Some(cwd)),
        Offered::Nothing => (None, None),
    };
    let Some(named) = named else {
        return Err(refused(format!(
            "{id} is not closed: {whose} needs the commit that did the work. Commit it{on}, \
             then run `bd close {id} --commit <sha>`"
        )));
    };
    if !(4..=64).contains(&named.len()) || !named.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(refused(format!(
            "{id} is not closed: `{named}` is not a commit SHA (4 to 64 hex digits)"
        )));
    }
    let repo = match (&rules.rig, cwd.and_then(toplevel_of)) {
        (Some((_, dir)), _) => dir.clone(),
        (None, Some(dir)) => dir,
        (None, None) => {
            let here = std::env::current_dir().ok().and_then(|d| toplevel_of(&d));
            here.ok_or_else(|| {
                refused(format!(
                    "{id} is not closed: there is no git repository here to find commit \
                     {named} in; close it from the repository (or a rig's checkout)"
                ))
            })?
        }
    };
    let git_failed = |e: git::GitError| BeadError::Backend(e.to_string());
    let Some(commit) = git::commit_id(&repo, &named).map_err(git_failed)? else {
        return Err(refused(format!(
            "{id} is not closed: commit {named} does not exist in {}: name a commit you \
             made there (`git log -1 --format=%H`)",
            repo.display()
        )));
    };
    // Whatever a checkout happens to have checked out is no proof: its HEAD counts only when
    // it was committed after the work began.
    if matches!(offered, Offered::Head(_)) {
        let began = bead.started_at.as_deref().unwrap_or(&bead.created_at);
        let began_at = chrono::DateTime::parse_from_rfc3339(began).map(|t| t.timestamp());
        let made_at = git::commit_time(&repo, &commit).map_err(git_failed)?;
        if began_at.is_ok_and(|began_at| made_at < began_at) {
            return Err(refused(format!(
                "{id} is not closed: {whose} needs the commit that did the work, and this \
                 checkout's HEAD ({}) is older than the work (begun {began}). Commit it{on}, \
                 then run `bd close {id} --commit <sha>`",
                short(&commit)
            )));
        }
    }
    if let Some(branch) = &rules.target_branch {
        let Some(tip) = git::commit_id(&repo, branch).map_err(git_failed)? else {
            return Err(refused(format!(
                "{id} is not closed: {whose} names target branch `{branch}`, which {} does \
                 not have (the Rig's completion.targetBranch)",
                repo.display()
            )));
        };
        if !git::is_ancestor(&repo, &commit, &tip).map_err(git_failed)? {
            return Err(refused(format!(
                "{id} is not closed: commit {} is not on {branch} yet: merge it into {branch}, \
                 then run `bd close {id} --commit <sha>` again",
                short(&commit)
            )));
        }
    }
    Ok(Some(Proven { commit, on: rules.target_branch.clone() }))
}

fn refused(message: String) -> BeadError {
    BeadError::Refused(message)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The commit checked out at `dir`, if it is in a git checkout.
fn head_of(dir: &Path) -> Option<String> {
    git::commit_id(dir, "HEAD").ok().flatten()
}

/// The top of the git checkout holding `dir`.
fn toplevel_of(dir: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let top = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !top.is_empty()).then(|| PathBuf::from(top))
}

#[cfg(test)]
#[path = "proof_tests.rs"]
mod tests;
