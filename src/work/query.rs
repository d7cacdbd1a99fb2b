//! An Agent's `workQuery`: which ready beads are its work, written as `bd ready` flags.

use crate::beads::ReadyQuery;

/// Parses `text` (`--label frontend --type bug`, optionally after `bd ready`) into the filter
/// it means; the error says what is wrong with it.
pub fn parse(text: &str) -> Result<ReadyQuery, String> {
    let mut words = shlex::split(text).ok_or_else(|| "unbalanced quotes".to_owned())?;
    if words.first().is_some_and(|w| w == "bd" || w == "gc") {
        words.remove(0);
        if words.first().is_some_and(|w| w == "bd") {
            words.remove(0);
        }
    }
    if words.first().is_some_and(|w| w == "ready") {
        words.remove(0);
    }
    let mut query = crate::cli::bd::ready_query(&words)?;
    query.limit = None;
    Ok(query)
}

/// The agent's query, when it has a valid one (`gc validate` refuses the others).
pub fn of(spec: &crate::api::agent::AgentSpec) -> Option<ReadyQuery> {
    spec.work_query.as_deref().and_then(|q| parse(q).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bd_ready_flags_become_the_filter() {
        let q = parse("bd ready --label frontend,ui -t bug --unassigned").unwrap();
        assert_eq!(q.labels, ["frontend", "ui"]);
        assert_eq!(q.issue_type.as_deref(), Some("bug"));
        assert!(q.unassigned);
        assert_eq!(q.limit, None);
        let q = parse("--metadata-field team=web").unwrap();
        assert_eq!(q.metadata, [("team".to_owned(), "web".to_owned())]);
        assert_eq!(parse("").unwrap(), ReadyQuery::default());
    }

    #[test]
    fn what_is_not_a_filter_is_refused_with_a_reason() {
        assert!(parse("--claim").unwrap_err().contains("--claim"));
        assert!(parse("--lable x").unwrap_err().contains("--lable"), "{:?}", parse("--lable x"));
        assert!(parse("--label 'x").unwrap_err().contains("quotes"));
    }
}
