//! The few git operations rigs need — clone, worktree add/remove, "is there uncommitted
//! work" — run as argv (never through a shell: URLs, paths and branch names come from users'
//! files), with git's own message kept for events and status.

use std::path::Path;
use std::process::{Command, Stdio};

/// A git command that failed: what was run and what git said.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`git {args}` failed: {message}")]
pub struct GitError {
    /// The arguments, space-joined, for the message.
    pub args: String,
    /// git's stderr (or why it could not run).
    pub message: String,
}

/// Runs `git ARGS` in `dir` (when given) and returns its stdout. Prompts are turned off so a
/// clone that needs credentials fails instead of waiting on a terminal nobody watches.
fn git(dir: Option<&Path>, args: &[&std::ffi::OsStr]) -> Result<String, GitError> {
    let shown = args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    let out =
        cmd.args(args).env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null()).output().map_err(
            |e| GitError { args: shown.clone(), message: format!("cannot run git: {e}") },
        )?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let message = if stderr.is_empty() { out.status.to_string() } else { stderr };
        Err(GitError { args: shown, message })
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Whether `dir` is the top of a git checkout (a repository or a worktree): it holds `.git`.
/// A subdirectory of a repository does not count, since worktrees are of whole repositories.
pub fn is_repo(dir: &Path) -> bool {
    dir.join(".git").exists()
}

/// Whether `dir` is a linked worktree (its `.git` is a file pointing at the repository).
pub fn is_worktree(dir: &Path) -> bool {
    dir.join(".git").is_file()
}

/// Clones `repo` into `dest` (which must not exist).
pub fn clone(repo: &str, dest: &Path) -> Result<(), GitError> {
    // `--` keeps a repo value starting with `-` from being read as an option.
    git(None, &[os("clone"), os("--quiet"), os("--"), os(repo), dest.as_os_str()]).map(drop)
}

/// Makes `dir` a git repository holding its current files as one commit (authored by `gc`
/// unless the user's git says otherwise), so worktrees can be taken of it.
pub fn init_with_commit(dir: &Path, message: &str) -> Result<(), GitError> {
    git(Some(dir), &[os("init"), os("--quiet")])?;
    git(Some(dir), &[os("add"), os("--all")])?;
    git(
        Some(dir),
        &[
            os("-c"),
            os("user.name=gc"),
            os("-c"),
            os("user.email=gc@localhost"),
            os("commit"),
            os("--quiet"),
            os("--allow-empty"),
            os("-m"),
            os(message),
        ],
    )
    .map(drop)
}

/// Whether `branch` exists in the repository at `repo`.
fn has_branch(repo: &Path, branch: &str) -> bool {
    let full = format!("refs/heads/{branch}");
    git(Some(repo), &[os("show-ref"), os("--verify"), os("--quiet"), os(&full)]).is_ok()
}

/// Adds a worktree of `repo` at `path` on `branch`: the existing branch (an earlier session's
/// commits are picked up again), else a new one from the current HEAD.
pub fn add_worktree(repo: &Path, path: &Path, branch: &str) -> Result<(), GitError> {
    // Registrations of worktree directories deleted by hand would block the branch.
    let _ = git(Some(repo), &[os("worktree"), os("prune")]);
    if has_branch(repo, branch) {
        git(Some(repo), &[os("worktree"), os("add"), os("--quiet"), path.as_os_str(), os(branch)])
            .map(drop)
    } else {
        git(
            Some(repo),
            &[os("worktree"), os("add"), os("--quiet"), os("-b"), os(branch), path.as_os_str()],
        )
        .map(drop)
    }
}

/// The uncommitted work in the checkout at `dir`: `git status --porcelain` lines (modified,
/// staged and untracked files; ignored files do not count), minus the untracked `.beads/`
/// entries gc itself writes there.
pub fn uncommitted(dir: &Path) -> Result<Vec<String>, GitError> {
    let out = git(Some(dir), &[os("status"), os("--porcelain"), os("--untracked-files=all")])?;
    Ok(out
        .lines()
        .filter(|l| !l.is_empty())
        .filter(|l| !(l.starts_with("?? .beads/") || *l == "?? .beads"))
        .map(str::to_owned)
        .collect())
}

/// What the checkout at `dir` changed against `base` (a commit-ish of the same repository;
/// `HEAD` when `None`): `git diff` of the working tree (commits on its branch since `base`
/// plus uncommitted edits of tracked files), and the untracked files (`.beads/` aside).
pub fn changes(dir: &Path, base: Option<&str>) -> Result<(String, Vec<String>), GitError> {
    let base = base.unwrap_or("HEAD");
    let diff =
        git(Some(dir), &[os("diff"), os("--no-color"), os("--no-ext-diff"), os(base), os("--")])?;
    let untracked = uncommitted(dir)?
        .into_iter()
        .filter_map(|l| l.strip_prefix("?? ").map(str::to_owned))
        .collect();
    Ok((diff, untracked))
}

/// The commit `rev` names in the repository at `dir`.
pub fn rev_parse(dir: &Path, rev: &str) -> Result<String, GitError> {
    Ok(git(Some(dir), &[os("rev-parse"), os("--verify"), os("--quiet"), os(rev)])?
        .trim()
        .to_owned())
}

/// The best common ancestor of `a` and `b` in the repository at `dir`.
pub fn merge_base(dir: &Path, a: &str, b: &str) -> Result<String, GitError> {
    Ok(git(Some(dir), &[os("merge-base"), os(a), os(b)])?.trim().to_owned())
}

/// The full id of the commit `rev` names in the repository at `dir` (`rev` is used as a
/// revision, never as an option), or `None` when it names no commit there.
pub fn commit_id(dir: &Path, rev: &str) -> Result<Option<String>, GitError> {
    let spec = format!("{rev}^{{commit}}");
    let args = [os("rev-parse"), os("--verify"), os("--quiet"), os("--end-of-options"), os(&spec)];
    match git(Some(dir), &args) {
        Ok(id) => Ok(Some(id.trim().to_owned())),
        // `--quiet --verify` fails without a message for a revision that names nothing.
        Err(e) if e.message.starts_with("exit status") => Ok(None),
        Err(e) => Err(e),
    }
}

/// When `commit` was committed (seconds since the epoch), in the repository at `dir`.
pub fn commit_time(dir: &Path, commit: &str) -> Result<i64, GitError> {
    let out = git(Some(dir), &[os("show"), os("-s"), os("--format=%ct"), os(commit)])?;
    out.trim().parse().map_err(|_| GitError {
        args: format!("show -s --format=%ct {commit}"),
        message: format!("not a time: {out}"),
    })
}

/// Whether commit `ancestor` is reachable from `tip` in the repository at `dir`.
pub fn is_ancestor(dir: &Path, ancestor: &str, tip: &str) -> Result<bool, GitError> {
    let args = [os("merge-base"), os("--is-ancestor"), os(ancestor), os(tip)];
    match git(Some(dir), &args) {
        Ok(_) => Ok(true),
        Err(e) if e.message == "exit status: 1" => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the worktree at `path` (git refuses if it holds work, which the caller checked).
pub fn remove_worktree(path: &Path) -> Result<(), GitError> {
    git(Some(path), &[os("worktree"), os("remove"), path.as_os_str()]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(dir: &Path) {
        let run = |args: &[&str]| {
            let ok = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
            assert!(ok.status.success(), "{args:?}: {}", String::from_utf8_lossy(&ok.stderr));
        };
        std::fs::create_dir_all(dir).unwrap();
        run(&["init", "--quiet"]);
        run(&[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "i",
        ]);
    }

    #[test]
    fn worktrees_are_added_checked_for_work_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let rig = tmp.path().join("rig");
        repo(&rig);
        assert!(is_repo(&rig) && !is_worktree(&rig));
        let tree = tmp.path().join("trees/w");
        add_worktree(&rig, &tree, "gc/w").unwrap();
        assert!(is_worktree(&tree));
        std::fs::create_dir_all(tree.join(".beads")).unwrap();
        std::fs::write(tree.join(".beads/redirect"), "x\n").unwrap();
        assert!(uncommitted(&tree).unwrap().is_empty(), "gc's own .beads/ is not work");
        std::fs::write(tree.join("notes.txt"), "wip").unwrap();
        assert_eq!(uncommitted(&tree).unwrap(), ["?? notes.txt"]);
        std::fs::remove_file(tree.join("notes.txt")).unwrap();
        std::fs::remove_dir_all(tree.join(".beads")).unwrap();
        remove_worktree(&tree).unwrap();
        assert!(!tree.exists());
        // The branch stays (it may hold commits), and a new worktree picks it up again.
        add_worktree(&rig, &tree, "gc/w").unwrap();
        assert!(is_worktree(&tree));
    }

    #[test]
    fn failures_carry_gits_message() {
        let tmp = tempfile::tempdir().unwrap();
        let err = clone("--upload-pack=touch /tmp/x", &tmp.path().join("d")).unwrap_err();
        assert!(err.to_string().contains("git clone"), "{err}");
        assert!(!tmp.path().join("d").exists());
    }
}
