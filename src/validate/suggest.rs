//! "Did you mean …?" for misspelt fields, kinds, enum values and references.

/// The candidate closest to `word`, if one is close enough to be a likely typo. Matching
/// ignores case and `_`/`-`, so `work_dir` suggests `workDir`.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let norm = |s: &str| s.to_lowercase().replace(['_', '-'], "");
    let target = norm(word);
    let mut best: Option<(&'a str, usize)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(&target, &norm(candidate));
        let limit = (target.chars().count().max(candidate.chars().count()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(_, d)| distance < d) {
            best = Some((candidate, distance));
        }
    }
    best.map(|(c, _)| c)
}

/// A help line: "did you mean `x`?", else the list of what is allowed.
pub fn help_for(word: &str, candidates: &[&str], what: &str) -> Option<String> {
    if let Some(best) = did_you_mean(word, candidates.iter().copied()) {
        return Some(format!("did you mean `{best}`?"));
    }
    if candidates.is_empty() {
        return None;
    }
    Some(format!("{what}: {}", quoted_list(candidates)))
}

/// `a`, `b`, `c`
pub fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["provider", "workDir", "dependsOn", "scaling"];
        assert_eq!(did_you_mean("provder", fields), Some("provider"));
        assert_eq!(did_you_mean("work_dir", fields), Some("workDir"));
        assert_eq!(did_you_mean("depends_on", fields), Some("dependsOn"));
        assert_eq!(did_you_mean("Agnet", ["City", "Agent"]), Some("Agent"));
        assert_eq!(did_you_mean("colour", fields), None);
    }
}
