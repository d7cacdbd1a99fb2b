//! The runtime plan section that `gc diff` and `gc apply --dry-run` print after their resource
//! lines: what the controller will do to sessions once the changes are applied.

use std::path::Path;

use crate::apply::Change;
use crate::controllers::runtime_plan::{RuntimePlan, preview};

/// The section for applying `changes` to the city in `city_dir`. Never fails: when the plan
/// cannot be worked out (tmux unreachable, the store unreadable) it says why in one line.
pub(super) fn section(city_dir: &Path, changes: &[Change]) -> String {
    let running = crate::controllers::manager::running_pid(city_dir).is_some();
    render(preview(city_dir, changes).map_err(|e| e.to_string()), running)
}

/// The text of the section for `plan` (or why there is none).
fn render(plan: Result<RuntimePlan, String>, controller_running: bool) -> String {
    let plan = match plan {
        Ok(plan) => plan,
        Err(why) => return format!("Runtime plan: not available ({why}).\n"),
    };
    // Notes alone (drift kept by policy, a quarantine) change no session.
    let mut out = if !plan.changes_sessions() {
        "Runtime plan: no session changes.\n".to_owned()
    } else {
        "Runtime plan (what the controller does once this is applied):\n".to_owned()
    };
    if !controller_running {
        out.push_str("No controller is running: this is what `gc start` would do.\n");
    }
    for line in plan.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::agent::{SessionAction, StopReason};
    use crate::controllers::runtime_plan::Entry;

    fn drifted() -> Entry {
        Entry {
            agent: "reviewer".into(),
            actions: Vec::new(),
            notes: vec![
                "gc-x-reviewer drifted (prompt changed), not restarted: policy Never".into(),
            ],
        }
    }

    fn deleted() -> Entry {
        Entry {
            agent: "old".into(),
            actions: vec![SessionAction::Stop {
                session: "gc-x-old".into(),
                instance: None,
                reason: StopReason::Off("Deleted"),
                detail: String::new(),
            }],
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_section_lists_each_agents_lines_in_plan_order_under_its_header() {
        let plan = RuntimePlan { entries: vec![drifted(), deleted()] };
        assert_eq!(
            render(Ok(plan), true),
            "Runtime plan (what the controller does once this is applied):\n  \
             agent/reviewer: gc-x-reviewer drifted (prompt changed), not restarted: policy Never\n  \
             agent/old: stop gc-x-old (Deleted)\n"
        );
    }

    #[test]
    fn drift_kept_by_policy_alone_is_no_session_change() {
        let plan = RuntimePlan { entries: vec![drifted()] };
        assert_eq!(
            render(Ok(plan), true),
            "Runtime plan: no session changes.\n  agent/reviewer: gc-x-reviewer drifted (prompt \
             changed), not restarted: policy Never\n"
        );
        assert_eq!(render(Ok(RuntimePlan::default()), true), "Runtime plan: no session changes.\n");
    }

    #[test]
    fn without_a_controller_the_section_says_it_is_what_gc_start_would_do() {
        let plan = RuntimePlan { entries: vec![deleted()] };
        assert!(
            render(Ok(plan), false)
                .contains("\nNo controller is running: this is what `gc start` would do.\n")
        );
    }

    #[test]
    fn a_plan_that_cannot_be_worked_out_is_one_line_saying_why() {
        assert_eq!(
            render(Err("cannot observe the sessions: tmux: not found".into()), true),
            "Runtime plan: not available (cannot observe the sessions: tmux: not found).\n"
        );
    }
}
