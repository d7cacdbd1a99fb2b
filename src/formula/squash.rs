//! Squashing a molecule: its steps summed up in one persistent, closed digest bead under the
//! root, so the record outlives short-lived (ephemeral) steps, which are then deleted.
//! `bd mol squash` does it on demand; a formula's `squash` does it when the molecule completes.

use serde_json::Value;

use super::cook::{SQUASH, SQUASH_METRICS};
use crate::beads::{Bead, BeadError, BeadStore, NewBead};

/// What a squash did.
#[derive(Clone, Debug, PartialEq)]
pub struct Squashed {
    /// The digest bead.
    pub digest: Bead,
    /// The steps summed up.
    pub steps: Vec<String>,
    /// The steps deleted (the ephemeral ones, unless they were kept).
    pub deleted: Vec<String>,
}

/// The digest's text: each step, done or not, with its close reason and, with `metrics`, the
/// time from its start (or creation) to its close.
pub fn summary(root: &Bead, steps: &[&Bead], metrics: bool) -> String {
    let mut text = format!("# {}\n\n{} step(s) squashed.\n\n", root.title, steps.len());
    for step in steps {
        let mark = if step.is_closed() { "x" } else { " " };
        text.push_str(&format!("- [{mark}] {}: {}", step.id, step.title));
        if !step.close_reason.is_empty() {
            text.push_str(&format!(" ({})", step.close_reason));
        }
        if metrics && let Some(took) = took(step) {
            text.push_str(&format!(" [took {took}]"));
        }
        text.push('\n');
    }
    text
}

/// How long a closed step took, from its start (or creation) to its close: `3m2s`.
fn took(step: &Bead) -> Option<String> {
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let end = at(step.closed_at.as_deref()?)?;
    let start = at(step.started_at.as_deref().unwrap_or(&step.created_at))?;
    let secs = (end - start).num_seconds().max(0);
    Some(match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    })
}

/// Squashes `root` with `members` (every bead below it): a closed digest under the root
/// summing up the steps, then the ephemeral steps deleted (unless `keep`), then an ephemeral
/// root closed. Which steps are summed: the ephemeral ones when there are any (a wisp's), else
/// every step (a persistent molecule, whose steps are all kept). `None` when there is nothing
/// to sum up. The digest is made before anything is deleted, so a failure part way leaves the
/// steps and a digest, never neither.
pub fn squash(
    store: &dyn BeadStore,
    root: &Bead,
    members: &[&Bead],
    text: Option<String>,
    keep: bool,
    actor: &str,
) -> Result<Option<Squashed>, BeadError> {
    let ephemeral: Vec<&Bead> = members.iter().copied().filter(|b| b.ephemeral).collect();
    let steps: Vec<&Bead> = if ephemeral.is_empty() { members.to_vec() } else { ephemeral.clone() };
    if steps.is_empty() {
        return Ok(None);
    }
    let metrics = root.metadata.get(SQUASH_METRICS).and_then(Value::as_bool) == Some(true);
    let mut labels = Vec::new();
    if let Some(kind) = root.meta_str(SQUASH) {
        labels.push(format!("digest:{kind}"));
    }
    let digest = NewBead {
        title: format!("Digest: {}", root.title),
        description: text.unwrap_or_else(|| summary(root, &steps, metrics)),
        issue_type: Some("task".into()),
        priority: Some(root.priority),
        parent: Some(root.id.clone()),
        labels,
        ..NewBead::default()
    };
    let digest = store.create(digest, actor)?;
    let kind = if ephemeral.is_empty() { "steps" } else { "wisps" };
    let reason = format!("Squashed from {} {kind}", steps.len());
    let digest = store.close(&digest.id, Some(&reason), actor)?;
    let mut deleted = Vec::new();
    if !keep {
        // Deepest first (members come breadth-first), so no step goes while one below remains.
        for step in ephemeral.iter().rev() {
            store.delete(&step.id, actor)?;
            deleted.push(step.id.clone());
        }
    }
    if root.ephemeral && !root.is_closed() {
        let reason = format!("Squashed: {} steps → digest {}", steps.len(), digest.id);
        store.close(&root.id, Some(&reason), actor)?;
    }
    Ok(Some(Squashed { digest, steps: steps.iter().map(|b| b.id.clone()).collect(), deleted }))
}

/// Every bead below `id`, breadth first.
pub fn members(store: &dyn BeadStore, id: &str) -> Result<Vec<Bead>, BeadError> {
    let mut out: Vec<Bead> = Vec::new();
    let mut level = vec![id.to_owned()];
    while !level.is_empty() {
        let mut next = Vec::new();
        for parent in level {
            for child in store.children(&parent)? {
                if !out.iter().any(|b| b.id == child.id) {
                    next.push(child.id.clone());
                    out.push(child);
                }
            }
        }
        level = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_each_step_how_it_ended_and_with_metrics_how_long_it_took() {
        let root = Bead { id: "gc-1".into(), title: "Patrol".into(), ..Bead::default() };
        let done = Bead {
            id: "gc-1.1".into(),
            title: "Check".into(),
            status: "closed".into(),
            close_reason: "all clear".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: Some("2026-01-01T00:01:00Z".into()),
            closed_at: Some("2026-01-01T00:04:02Z".into()),
            ..Bead::default()
        };
        let open = Bead {
            id: "gc-1.2".into(),
            title: "Report".into(),
            status: "open".into(),
            ..Bead::default()
        };
        let text = summary(&root, &[&done, &open], false);
        assert!(text.starts_with("# Patrol\n\n2 step(s) squashed."), "{text}");
        assert!(text.contains("- [x] gc-1.1: Check (all clear)\n"), "{text}");
        assert!(text.contains("- [ ] gc-1.2: Report\n"), "{text}");
        let text = summary(&root, &[&done, &open], true);
        assert!(text.contains("- [x] gc-1.1: Check (all clear) [took 3m2s]\n"), "{text}");
        assert!(text.contains("- [ ] gc-1.2: Report\n"), "an open step has no time: {text}");
    }
}
