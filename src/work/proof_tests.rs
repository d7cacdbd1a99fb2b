use std::process::Command;

use super::*;

/// A repository on `main` with one commit, the rules of a rig `app` over it, and its first
/// commit's id.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().unwrap() };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("first");
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Commits (empty) and returns the new commit's id.
    fn commit(&self, message: &str) -> String {
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn rules(&self, require_commit: bool, target: Option<&str>) -> Rules {
        Rules {
            rig: Some(("app".into(), self.dir.path().to_path_buf())),
            require_commit,
            target_branch: target.map(str::to_owned),
        }
    }
}

fn bead(started: &str) -> Bead {
    Bead {
        id: "ap-1".into(),
        title: "t".into(),
        status: "in_progress".into(),
        created_at: started.into(),
        started_at: Some(started.into()),
        ..Bead::default()
    }
}

const LONG_AGO: &str = "2001-01-01T00:00:00Z";
const LATER: &str = "2999-01-01T00:00:00Z";

fn refusal(result: Result<Option<Proven>>) -> String {
    match result {
        Err(BeadError::Refused(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn nothing_is_asked_where_nothing_is_required() {
    let repo = Repo::new();
    let rules = repo.rules(false, None);
    assert_eq!(check(&rules, &bead(LONG_AGO), Offered::Nothing).unwrap(), None);
    assert_eq!(check(&rules, &bead(LONG_AGO), Offered::Head(repo.dir.path())).unwrap(), None);
}

#[test]
fn a_close_without_a_commit_is_refused_with_what_to_do() {
    let repo = Repo::new();
    let message =
        refusal(check(&repo.rules(true, Some("main")), &bead(LONG_AGO), Offered::Nothing));
    assert!(message.contains("rig `app` needs the commit that did the work"), "{message}");
    assert!(
        message.contains("Commit it on main, then run `bd close ap-1 --commit <sha>`"),
        "{message}"
    );
}

#[test]
fn an_existing_commit_is_accepted_and_a_made_up_one_refused() {
    let repo = Repo::new();
    let head = repo.commit("the work");
    let rules = repo.rules(true, None);
    let proven = check(&rules, &bead(LONG_AGO), Offered::Commit(&head[..10])).unwrap().unwrap();
    assert_eq!(proven, Proven { commit: head.clone(), on: None }, "the short id is resolved");
    let message = refusal(check(&rules, &bead(LONG_AGO), Offered::Commit("deadbeefcafe")));
    assert!(message.contains("commit deadbeefcafe does not exist in"), "{message}");
    let message = refusal(check(&rules, &bead(LONG_AGO), Offered::Commit("--output=x")));
    assert!(message.contains("is not a commit SHA"), "{message}");
    // Named without being required: still checked.
    let message =
        refusal(check(&repo.rules(false, None), &bead(LONG_AGO), Offered::Commit("abcd1234")));
    assert!(message.contains("does not exist"), "{message}");
}

#[test]
fn a_commit_not_on_the_target_branch_is_refused_until_merged() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let work = repo.commit("the work");
    let rules = repo.rules(true, Some("main"));
    let message = refusal(check(&rules, &bead(LONG_AGO), Offered::Commit(&work)));
    assert!(message.contains("is not on main yet: merge it into main"), "{message}");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--ff-only", "feature"]);
    let proven = check(&rules, &bead(LONG_AGO), Offered::Commit(&work)).unwrap().unwrap();
    assert_eq!(proven.on.as_deref(), Some("main"));
    let message =
        refusal(check(&repo.rules(true, Some("release")), &bead(LONG_AGO), Offered::Commit(&work)));
    assert!(message.contains("target branch `release`"), "{message}");
}

#[test]
fn the_checkouts_head_counts_only_when_made_after_the_work_began() {
    let repo = Repo::new();
    let rules = repo.rules(true, Some("main"));
    let message = refusal(check(&rules, &bead(LATER), Offered::Head(repo.dir.path())));
    assert!(message.contains("older than the work"), "{message}");
    let head = repo.git(&["rev-parse", "HEAD"]);
    let proven = check(&rules, &bead(LONG_AGO), Offered::Head(repo.dir.path())).unwrap().unwrap();
    assert_eq!(proven.commit, head);
}

#[test]
fn a_formula_step_can_require_a_commit_where_its_rig_does_not() {
    let repo = Repo::new();
    let mut step = bead(LONG_AGO);
    step.metadata.insert(REQUIRE_COMMIT.into(), true.into());
    let rules = repo.rules(false, None);
    assert!(needs_commit(&rules, &step));
    refusal(check(&rules, &step, Offered::Nothing));
}
