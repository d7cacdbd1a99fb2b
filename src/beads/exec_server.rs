//! The server side of the exec bead store protocol (`docs/exec-bead-store.md`): answers one
//! `<op> [args…]` with its stdin on any [`BeadStore`]. `gc internal bead-exec-store` runs it on
//! the embedded store, which makes it both a reference implementation for people writing their
//! own script and the other end of the exec backend's end-to-end tests.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::protocol::{
    self, ActorRequest, CreateRequest, DepAddRequest, ImportReply, ImportRequest, ListRequest,
    ReadyRequest, SetMetadataRequest, UpdateRequest, WireError,
};
use super::{BeadError, BeadStore, ListQuery};

/// What the script prints and how it exits.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// 0 ok, 1 error, 2 unknown op.
    pub code: i32,
    /// The JSON answer (or a structured error).
    pub stdout: String,
    /// The error message.
    pub stderr: String,
}

impl Reply {
    fn ok(value: &impl Serialize) -> Reply {
        match serde_json::to_string(value) {
            Ok(stdout) => Reply { code: protocol::EXIT_OK, stdout, stderr: String::new() },
            Err(e) => {
                Reply::error(&BeadError::Backend(format!("could not encode the answer: {e}")))
            }
        }
    }

    fn error(err: &BeadError) -> Reply {
        let stdout = WireError::from_error(err)
            .and_then(|wire| serde_json::to_string(&wire).ok())
            .unwrap_or_default();
        Reply { code: protocol::EXIT_ERROR, stdout, stderr: err.to_string() }
    }

    fn unsupported(op: &str) -> Reply {
        Reply {
            code: protocol::EXIT_UNSUPPORTED,
            stdout: String::new(),
            stderr: format!("unknown op `{op}`"),
        }
    }
}

/// Every op the protocol defines, in the order the document lists them.
pub const OPS: &[&str] = &[
    "create",
    "get",
    "update",
    "claim",
    "claim-ready",
    "close",
    "list",
    "list-by-label",
    "ready",
    "children",
    "dep-add",
    "dep-remove",
    "dep-list",
    "delete",
    "export",
    "import",
    "set-metadata",
];

/// Whether `op` reads a request on stdin (the others ignore it, so a server need not wait for
/// input that never comes when someone runs it by hand).
pub fn takes_body(op: &str) -> bool {
    !matches!(op, "get" | "list-by-label" | "children" | "dep-list" | "export")
}

/// Answers `op` with `args` and `stdin` on `store`.
pub fn serve(store: &dyn BeadStore, op: &str, args: &[String], stdin: &str) -> Reply {
    if !OPS.contains(&op) {
        return Reply::unsupported(op);
    }
    match answer(store, op, args, stdin) {
        Ok(reply) => reply,
        Err(err) => Reply::error(&err),
    }
}

fn answer(
    store: &dyn BeadStore,
    op: &str,
    args: &[String],
    stdin: &str,
) -> Result<Reply, BeadError> {
    match op {
        "create" => {
            let (new, actor) = parse::<CreateRequest>(op, stdin)?.into_parts();
            ok(&store.create(new, &actor)?)
        }
        "get" => ok(&store.get(arg(op, args, 1)?.0)?),
        "update" => {
            let id = arg(op, args, 1)?.0;
            let (change, actor) = parse::<UpdateRequest>(op, stdin)?.into_parts();
            ok(&store.update(id, &change, &actor)?)
        }
        "claim" => {
            let id = arg(op, args, 1)?.0;
            ok(&store.claim(id, &parse::<ActorRequest>(op, stdin)?.actor)?)
        }
        "claim-ready" => {
            let (query, actor) = parse::<ReadyRequest>(op, stdin)?.into_parts()?;
            ok(&store.claim_ready(&query, &actor)?)
        }
        "close" => {
            let id = arg(op, args, 1)?.0;
            let request = parse::<ActorRequest>(op, stdin)?;
            ok(&store.close(id, request.reason.as_deref(), &request.actor)?)
        }
        "list" => {
            let query = ListQuery::try_from(parse::<ListRequest>(op, stdin)?)?;
            ok(&store.list(&query)?)
        }
        "list-by-label" => {
            let label = arg(op, args, 1)?.0;
            ok(&store
                .list(&ListQuery { labels: vec![label.to_owned()], ..ListQuery::default() })?)
        }
        "ready" => ok(&store.ready(&parse::<ReadyRequest>(op, stdin)?.into_parts()?.0)?),
        "children" => ok(&store.children(arg(op, args, 1)?.0)?),
        "dep-add" => {
            let (issue, depends_on) = arg(op, args, 2)?;
            let (dep, actor) =
                protocol::dependency(issue, depends_on, parse::<DepAddRequest>(op, stdin)?);
            store.dep_add(&dep, &actor)?;
            ok(&serde_json::json!({}))
        }
        "dep-remove" => {
            let (issue, depends_on) = arg(op, args, 2)?;
            store.dep_remove(issue, depends_on, &parse::<ActorRequest>(op, stdin)?.actor)?;
            ok(&serde_json::json!({}))
        }
        "dep-list" => ok(&store.dep_list(arg(op, args, 1)?.0)?),
        "delete" => {
            let id = arg(op, args, 1)?.0;
            store.delete(id, &parse::<ActorRequest>(op, stdin)?.actor)?;
            ok(&serde_json::json!({}))
        }
        "export" => ok(&store.export()?),
        "import" => {
            let request = parse::<ImportRequest>(op, stdin)?;
            let summary = store.import(request.beads, &request.actor)?;
            let reply = ImportReply {
                created: summary.created,
                updated: summary.updated,
                unchanged: summary.unchanged,
            };
            ok(&reply)
        }
        "set-metadata" => {
            let id = arg(op, args, 1)?.0;
            let request = parse::<SetMetadataRequest>(op, stdin)?;
            ok(&store.set_metadata(id, request.metadata, &request.actor)?)
        }
        _ => Ok(Reply::unsupported(op)),
    }
}

/// A successful answer.
fn ok(value: &impl Serialize) -> Result<Reply, BeadError> {
    Ok(Reply::ok(value))
}

/// The request body; an empty stdin stands for `{}` so optional bodies may be left out.
fn parse<T: DeserializeOwned>(op: &str, stdin: &str) -> Result<T, BeadError> {
    let text = if stdin.trim().is_empty() { "{}" } else { stdin };
    serde_json::from_str(text)
        .map_err(|e| BeadError::Invalid(format!("{op}: the request on stdin is not valid: {e}")))
}

/// The first one or two positional arguments (`count` of them, the second empty when 1).
fn arg<'a>(op: &str, args: &'a [String], count: usize) -> Result<(&'a str, &'a str), BeadError> {
    if args.len() != count || args.iter().any(String::is_empty) {
        let wanted = if count == 1 { "ID" } else { "ISSUE DEPENDS_ON" };
        return Err(BeadError::Invalid(format!(
            "{op} takes {wanted}, got {} argument(s)",
            args.len()
        )));
    }
    Ok((&args[0], args.get(1).map_or("", String::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::{Bead, BeadUpdate, Dependency, ImportSummary, NewBead, ReadyQuery, Result};

    /// A store that knows nothing: every get is "not found".
    struct Empty;

    impl BeadStore for Empty {
        fn create(&self, _: NewBead, _: &str) -> Result<Bead> {
            Err(BeadError::Invalid("title is empty".into()))
        }
        fn get(&self, id: &str) -> Result<Bead> {
            Err(BeadError::NotFound(id.into()))
        }
        fn update(&self, id: &str, _: &BeadUpdate, _: &str) -> Result<Bead> {
            self.get(id)
        }
        fn claim(&self, id: &str, _: &str) -> Result<Bead> {
            Err(BeadError::AlreadyClaimed { id: id.into(), by: "bob".into() })
        }
        fn claim_ready(&self, _: &ReadyQuery, _: &str) -> Result<Option<Bead>> {
            Ok(None)
        }
        fn close(&self, id: &str, _: Option<&str>, _: &str) -> Result<Bead> {
            self.get(id)
        }
        fn list(&self, _: &ListQuery) -> Result<Vec<Bead>> {
            Ok(Vec::new())
        }
        fn ready(&self, _: &ReadyQuery) -> Result<Vec<Bead>> {
            Ok(Vec::new())
        }
        fn children(&self, _: &str) -> Result<Vec<Bead>> {
            Ok(Vec::new())
        }
        fn dep_add(&self, dep: &Dependency, _: &str) -> Result<()> {
            Err(BeadError::Cycle { from: dep.issue_id.clone(), to: dep.depends_on_id.clone() })
        }
        fn dep_remove(&self, _: &str, _: &str, _: &str) -> Result<()> {
            Err(BeadError::Backend("database is locked".into()))
        }
        fn dep_list(&self, _: &str) -> Result<Vec<Dependency>> {
            Ok(Vec::new())
        }
        fn delete(&self, id: &str, _: &str) -> Result<()> {
            self.get(id).map(drop)
        }
        fn export(&self) -> Result<Vec<Bead>> {
            Ok(Vec::new())
        }
        fn import(&self, _: Vec<Bead>, _: &str) -> Result<ImportSummary> {
            Ok(ImportSummary::default())
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn unknown_ops_exit_2() {
        assert_eq!(serve(&Empty, "frobnicate", &[], "").code, 2);
    }

    #[test]
    fn errors_exit_1_with_a_code_on_stdout_and_the_message_on_stderr() {
        let reply = serve(&Empty, "get", &s(&["gc-1"]), "");
        assert_eq!(reply.code, 1);
        assert_eq!(reply.stdout, r#"{"code":"not_found","id":"gc-1"}"#);
        assert_eq!(reply.stderr, "no bead with id `gc-1`");
        let reply = serve(&Empty, "dep-add", &s(&["a", "b"]), r#"{"actor":"me","type":"blocks"}"#);
        assert_eq!(reply.stdout, r#"{"code":"cycle","from":"a","to":"b"}"#);
        let reply = serve(&Empty, "dep-remove", &s(&["a", "b"]), r#"{"actor":"me"}"#);
        assert_eq!((reply.code, reply.stdout.as_str()), (1, ""));
        assert!(reply.stderr.contains("database is locked"));
    }

    #[test]
    fn bad_requests_are_invalid_not_panics() {
        for (op, args, stdin) in [
            ("get", vec![], ""),
            ("get", s(&["a", "b"]), ""),
            ("dep-add", s(&["a"]), "{}"),
            ("create", vec![], "{not json"),
            ("create", vec![], "[]"),
            ("update", s(&["a"]), r#"{"priority":"high","actor":"x"}"#),
            ("list", vec![], r#"{"metadata":{"k":[1]}}"#),
        ] {
            let reply = serve(&Empty, op, &args, stdin);
            assert_eq!(reply.code, 1, "{op} {args:?} {stdin}");
            assert_eq!(reply.stdout, r#"{"code":"invalid"}"#, "{op}");
        }
    }

    #[test]
    fn answers_are_json_and_claim_ready_may_be_null() {
        let reply = serve(&Empty, "claim-ready", &[], r#"{"actor":"me"}"#);
        assert_eq!((reply.code, reply.stdout.as_str()), (0, "null"));
        assert_eq!(serve(&Empty, "ready", &[], "").stdout, "[]");
        assert_eq!(
            serve(&Empty, "import", &[], r#"{"actor":"me","beads":[]}"#).stdout,
            r#"{"created":0,"updated":0,"unchanged":0}"#
        );
    }
}
