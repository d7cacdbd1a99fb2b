//! Control beads: the parts of a molecule the controller runs instead of an agent, following
//! Gas City's formulas v2. A `retry` step becomes a control bead holding its attempts (the
//! work beads agents do); a `ralph` step a control bead that runs a check script after each
//! iteration; a `scope` step a latch that closes once its members are done, failing when one
//! failed. Control beads are assigned to [`CONTROLLER`], so no agent is offered them.
//!
//! The decisions here are pure: what an attempt's result means ([`outcome`]) and what follows
//! ([`after_retry`], [`after_ralph`]). The controller's control sweep carries them out.

use serde_json::Value;

use crate::beads::Bead;

/// Who holds control beads (and runs them).
pub const CONTROLLER: &str = "gc-controller";
/// Metadata: what a bead is to the workflow (`retry`, `ralph`, `scope`, …).
pub const KIND: &str = "gc.kind";
/// Metadata: the formula step a control or attempt bead belongs to.
pub const STEP_ID: &str = "gc.step_id";
/// Metadata: which attempt (or ralph iteration) a work bead is, from 1.
pub const ATTEMPT: &str = "gc.attempt";
/// Metadata: attempts (iterations) allowed in all.
pub const MAX_ATTEMPTS: &str = "gc.max_attempts";
/// Metadata: `hard_fail` or `soft_fail`.
pub const ON_EXHAUSTED: &str = "gc.on_exhausted";
/// Metadata: a ralph step's check script.
pub const CHECK_PATH: &str = "gc.check_path";
/// Metadata: how long a ralph check may run (`30s`).
pub const CHECK_TIMEOUT: &str = "gc.check_timeout";
/// Metadata an agent sets when closing an attempt: `pass` or `fail`.
pub const OUTCOME: &str = "gc.outcome";
/// Metadata an agent sets with a failure: `transient` (worth another attempt) or `hard`.
pub const FAILURE_CLASS: &str = "gc.failure_class";
/// Metadata an agent sets with a failure: why, briefly.
pub const FAILURE_REASON: &str = "gc.failure_reason";
/// Metadata the controller sets on a finished control bead: `pass`, `hard_fail`, `soft_fail`.
pub const FINAL_DISPOSITION: &str = "gc.final_disposition";
/// Metadata: the JSON list of attempts and what came of each.
pub const ATTEMPT_LOG: &str = "gc.attempt_log";
/// Metadata of scope members: the scope's body step.
pub const SCOPE_REF: &str = "gc.scope_ref";
/// Metadata of scope members: `setup`, `member`, `teardown` (the body: `body`).
pub const SCOPE_ROLE: &str = "gc.scope_role";
/// Metadata of scope members: `abort_scope` skips the rest of the scope when this one fails.
pub const ON_FAIL: &str = "gc.on_fail";

/// Metadata: a step's result, JSON (text or an object) its agent sets when closing it.
pub const OUTPUT_JSON: &str = "gc.output_json";
/// Metadata: the step's agent must give `gc.output_json` (a fan-out reads it).
pub const OUTPUT_REQUIRED: &str = "gc.output_json_required";
/// Metadata of a fan-out: the step whose output it reads.
pub const CONTROL_FOR: &str = "gc.control_for";
/// Metadata of a fan-out: where the list is in the output (`output.items`).
pub const FOR_EACH: &str = "gc.for_each";
/// Metadata of a fan-out: the expansion made per item.
pub const BOND: &str = "gc.bond";
/// Metadata of a fan-out: `parallel` or `sequential`.
pub const FANOUT_MODE: &str = "gc.fanout_mode";
/// Metadata of a fan-out: the expansion's vars, with `{item}`/`{index}` placeholders.
pub const BOND_VARS: &str = "gc.bond_vars";
/// Metadata of the beads a fan-out made: the fan-out's id.
pub const FANOUT: &str = "gc.fanout";

/// The list at `path` (`output.a.b`) in a step's output, if it is one.
pub fn items(output: &Value, path: &str) -> Option<Vec<Value>> {
    let mut at = output;
    for key in path.strip_prefix("output")?.split('.').filter(|k| !k.is_empty()) {
        at = at.get(key)?;
    }
    at.as_array().cloned()
}

/// A step's output: `gc.output_json` as an object, or as text holding JSON.
pub fn output_of(bead: &Bead) -> Option<Value> {
    match bead.metadata.get(OUTPUT_JSON)? {
        Value::String(text) => serde_json::from_str(text).ok(),
        other => Some(other.clone()),
    }
}

/// A fan-out var's value for item `index`: `{index}`, `{item}` (text, or JSON for a
/// non-text item) and `{item.a.b}` (a field, empty when missing) filled in.
pub fn item_value(template: &str, index: usize, item: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut values = std::collections::BTreeMap::new();
    values.insert("index".to_owned(), index.to_string());
    values.insert("item".to_owned(), text(item));
    let mut rest = template;
    while let Some(at) = rest.find("{item.") {
        let Some(end) = rest[at..].find('}') else { break };
        let name = &rest[at + 1..at + end];
        let mut v = item;
        for key in name.split('.').skip(1) {
            v = v.get(key).unwrap_or(&Value::Null);
        }
        values.insert(name.to_owned(), text(v));
        rest = &rest[at + end..];
    }
    super::compose::fill(template, &values)
}

/// What an attempt's agent said when closing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked (also: closed without saying otherwise).
    Pass,
    /// It failed for a passing reason: worth another attempt.
    Transient(String),
    /// It failed for good.
    Hard(String),
}

/// What a closed attempt's metadata says. Closing without `gc.outcome` is a pass: an agent
/// that knows nothing of the contract finishes its work by closing it.
pub fn outcome(attempt: &Bead) -> Outcome {
    let reason = attempt.meta_str(FAILURE_REASON).unwrap_or("unspecified").to_owned();
    match (attempt.meta_str(OUTCOME), attempt.meta_str(FAILURE_CLASS)) {
        (Some("fail"), Some("transient")) => Outcome::Transient(reason),
        (Some("fail"), _) => Outcome::Hard(reason),
        _ => Outcome::Pass,
    }
}

/// What the controller does once a control bead's latest attempt is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Close the control bead: the step passed (`disposition` says how: `pass`, `soft_fail`).
    Pass {
        /// `pass`, or `soft_fail` when attempts ran out and the workflow goes on.
        disposition: &'static str,
    },
    /// The step failed for good.
    Fail {
        /// Why.
        reason: String,
    },
    /// Make attempt (iteration) `n` and wait for it.
    Again {
        /// The number of the new attempt.
        n: u32,
    },
}

/// After attempt `n` of a retry step allowing `max`, which ended with `outcome`.
pub fn after_retry(n: u32, max: u32, soft: bool, outcome: &Outcome) -> Next {
    match outcome {
        Outcome::Pass => Next::Pass { disposition: "pass" },
        Outcome::Hard(reason) => Next::Fail { reason: format!("attempt {n}: {reason}") },
        Outcome::Transient(_) if n < max => Next::Again { n: n + 1 },
        Outcome::Transient(_) if soft => Next::Pass { disposition: "soft_fail" },
        Outcome::Transient(reason) => {
            Next::Fail { reason: format!("{max} attempt(s) failed; the last: {reason}") }
        }
    }
}

/// After iteration `n` of a ralph step allowing `max`, whose check passed or not (`why`).
pub fn after_ralph(n: u32, max: u32, check: Result<(), String>) -> Next {
    match check {
        Ok(()) => Next::Pass { disposition: "pass" },
        Err(_) if n < max => Next::Again { n: n + 1 },
        Err(why) => {
            Next::Fail { reason: format!("the check failed after {max} iteration(s): {why}") }
        }
    }
}

/// The number of a work bead's attempt (1 when unset).
pub fn attempt_of(bead: &Bead) -> u32 {
    number(bead.metadata.get(ATTEMPT)).unwrap_or(1)
}

/// The attempts a control bead allows (1 when unset).
pub fn max_attempts(control: &Bead) -> u32 {
    number(control.metadata.get(MAX_ATTEMPTS)).unwrap_or(1).max(1)
}

fn number(value: Option<&Value>) -> Option<u32> {
    match value? {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// What the agent of an attempt is told about the contract, appended to its description.
pub fn contract_note(kind: &str, max: u32) -> String {
    let what = if kind == "ralph" {
        format!(
            "This is one iteration of up to {max}: a check runs after you close it, and the step runs again while it fails."
        )
    } else {
        format!("This is one attempt of up to {max}.")
    };
    format!(
        "\n\n---\n{what} When it fails, close it saying so: `bd update <id> --set-metadata \
         gc.outcome=fail --set-metadata gc.failure_class=transient|hard --set-metadata \
         gc.failure_reason=<why> --status closed` (transient: worth another try)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn closed(meta: &[(&str, &str)]) -> Bead {
        let mut bead = Bead { status: "closed".into(), ..Bead::default() };
        for (k, v) in meta {
            bead.metadata.insert((*k).into(), json!(v));
        }
        bead
    }

    #[test]
    fn an_attempt_passes_unless_it_says_it_failed() {
        assert_eq!(outcome(&closed(&[])), Outcome::Pass);
        assert_eq!(outcome(&closed(&[(OUTCOME, "pass")])), Outcome::Pass);
        let transient =
            closed(&[(OUTCOME, "fail"), (FAILURE_CLASS, "transient"), (FAILURE_REASON, "flaky")]);
        assert_eq!(outcome(&transient), Outcome::Transient("flaky".into()));
        assert_eq!(outcome(&closed(&[(OUTCOME, "fail")])), Outcome::Hard("unspecified".into()));
    }

    #[test]
    fn retries_go_on_while_attempts_remain_then_fail_or_pass_as_told() {
        let flaky = Outcome::Transient("flaky".into());
        assert_eq!(after_retry(1, 3, false, &flaky), Next::Again { n: 2 });
        assert_eq!(after_retry(1, 3, false, &Outcome::Pass), Next::Pass { disposition: "pass" });
        assert!(matches!(after_retry(3, 3, false, &flaky), Next::Fail { .. }));
        assert_eq!(after_retry(3, 3, true, &flaky), Next::Pass { disposition: "soft_fail" });
        let hard = Outcome::Hard("broken".into());
        assert_eq!(
            after_retry(1, 3, true, &hard),
            Next::Fail { reason: "attempt 1: broken".into() }
        );
    }

    #[test]
    fn ralph_runs_again_while_its_check_fails() {
        assert_eq!(after_ralph(1, 2, Ok(())), Next::Pass { disposition: "pass" });
        assert_eq!(after_ralph(1, 2, Err("no".into())), Next::Again { n: 2 });
        assert!(matches!(after_ralph(2, 2, Err("no".into())), Next::Fail { .. }));
    }

    #[test]
    fn attempt_numbers_read_numbers_and_strings() {
        assert_eq!(attempt_of(&closed(&[(ATTEMPT, "3")])), 3);
        let mut bead = Bead::default();
        bead.metadata.insert(MAX_ATTEMPTS.into(), json!(4));
        assert_eq!(max_attempts(&bead), 4);
        assert_eq!(attempt_of(&Bead::default()), 1);
    }
}
