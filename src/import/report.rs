//! What `gc import` did with every key it read: mapped (and to what), not mapped (and why),
//! or unknown to Gas City's own schema.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What became of one key (or one file, or one template construct).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Carried over; `to` names the resource and field, e.g. `Agent/mayor spec.nudge`.
    Mapped {
        /// Where it went.
        to: String,
    },
    /// Carried over in another form than written; `how` says what changed.
    Approximated {
        /// Where it went.
        to: String,
        /// What differs from Gas City.
        how: String,
    },
    /// Not carried over.
    NotMapped {
        /// Why, and what to do instead when there is something.
        why: String,
    },
    /// A key Gas City's schema does not have (Gas City only warns about those): not carried
    /// over either.
    Unknown {
        /// The nearest key Gas City knows there, if any.
        suggestion: Option<String>,
    },
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The source file, relative to the imported directory.
    pub file: String,
    /// 1-based line in `file` (0 when the entry is about the whole file).
    pub line: usize,
    /// The key as Gas City users write it, e.g. `daemon.patrol_interval` or
    /// `agent[mayor].idle_timeout`.
    pub key: String,
    /// What became of it.
    pub outcome: Outcome,
}

/// Every entry, one per (file, key): a later entry for the same key replaces an earlier one,
/// so a value that turns out unusable after its key was accounted for is reported as such.
#[derive(Clone, Debug, Default)]
pub struct Report {
    entries: BTreeMap<(String, String), Entry>,
    order: Vec<(String, String)>,
}

impl Report {
    /// Records `entry`, replacing any earlier one for the same file and key.
    pub fn add(&mut self, entry: Entry) {
        let id = (entry.file.clone(), entry.key.clone());
        if self.entries.insert(id.clone(), entry).is_none() {
            self.order.push(id);
        }
    }

    /// Records a mapped key.
    pub fn mapped(&mut self, file: &str, line: usize, key: &str, to: impl Into<String>) {
        self.add(entry(file, line, key, Outcome::Mapped { to: to.into() }));
    }

    /// Records a key carried over in another form.
    pub fn approximated(
        &mut self,
        file: &str,
        line: usize,
        key: &str,
        to: impl Into<String>,
        how: impl Into<String>,
    ) {
        self.add(entry(file, line, key, Outcome::Approximated { to: to.into(), how: how.into() }));
    }

    /// Records a key that was not carried over.
    pub fn not_mapped(&mut self, file: &str, line: usize, key: &str, why: impl Into<String>) {
        self.add(entry(file, line, key, Outcome::NotMapped { why: why.into() }));
    }

    /// Every entry, sorted by file and line.
    pub fn entries(&self) -> Vec<&Entry> {
        let mut out: Vec<&Entry> = self.order.iter().map(|id| &self.entries[id]).collect();
        out.sort_by(|a, b| (&a.file, a.line, &a.key).cmp(&(&b.file, b.line, &b.key)));
        out
    }

    /// Every entry, in no particular order (for lookups that need no sorting).
    pub fn entries_unsorted(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The entry for `key` in `file`, if any.
    pub fn get(&self, file: &str, key: &str) -> Option<&Entry> {
        self.entries.get(&(file.to_owned(), key.to_owned()))
    }

    /// Counts of (mapped incl. approximated, not mapped, unknown).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for e in self.entries.values() {
            match e.outcome {
                Outcome::Mapped { .. } | Outcome::Approximated { .. } => counts.0 += 1,
                Outcome::NotMapped { .. } => counts.1 += 1,
                Outcome::Unknown { .. } => counts.2 += 1,
            }
        }
        counts
    }

    /// The report as people read it: warnings first (what Gas City's schema rejects), then
    /// what was not carried over, then what was, each `file:line  key  …`.
    pub fn render(&self) -> String {
        self.render_sections(true)
    }

    /// As [`Report::render`], leaving out the mapped keys (only counted) unless `mapped`.
    pub fn render_sections(&self, mapped: bool) -> String {
        let entries = self.entries();
        let mut out = String::new();
        let sections: [Section; 3] = [
            ("Warnings: keys Gas City accepted but its own schema rejects (not imported)", |o| {
                matches!(o, Outcome::Unknown { .. })
            }),
            ("Not mapped", |o| matches!(o, Outcome::NotMapped { .. })),
            ("Mapped", |o| matches!(o, Outcome::Mapped { .. } | Outcome::Approximated { .. })),
        ];
        let shown = if mapped { &sections[..] } else { &sections[..2] };
        for (title, wanted) in shown.iter().copied() {
            let chosen: Vec<&&Entry> = entries.iter().filter(|e| wanted(&e.outcome)).collect();
            if chosen.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title} ({}):", chosen.len());
            for e in chosen {
                let place =
                    if e.line == 0 { e.file.clone() } else { format!("{}:{}", e.file, e.line) };
                let what = match &e.outcome {
                    Outcome::Mapped { to } => format!("→ {to}"),
                    Outcome::Approximated { to, how } => format!("→ {to} (approximated: {how})"),
                    Outcome::NotMapped { why } => why.clone(),
                    Outcome::Unknown { suggestion: Some(s) } => {
                        format!("unknown key; did you mean `{s}`?")
                    }
                    Outcome::Unknown { suggestion: None } => "unknown key".to_owned(),
                };
                let _ = writeln!(out, "  {place}  {}  {what}", e.key);
            }
            out.push('\n');
        }
        let (mapped, not_mapped, unknown) = self.counts();
        let _ = writeln!(
            out,
            "{mapped} mapped, {not_mapped} not mapped, {unknown} unknown to Gas City's schema"
        );
        out
    }
}

/// A report section: its title and which outcomes it lists.
type Section = (&'static str, fn(&Outcome) -> bool);

fn entry(file: &str, line: usize, key: &str, outcome: Outcome) -> Entry {
    Entry { file: file.to_owned(), line, key: key.to_owned(), outcome }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_entry_replaces_an_earlier_one_and_sections_are_ordered() {
        let mut r = Report::default();
        r.mapped("city.toml", 3, "workspace.name", "City/x metadata.name");
        r.mapped("city.toml", 9, "daemon.patrol_interval", "City/x spec.controller");
        r.not_mapped("city.toml", 9, "daemon.patrol_interval", "`1.5h` is not a gc duration");
        r.add(entry("city.toml", 4, "workspace.isolation", Outcome::Unknown { suggestion: None }));
        assert_eq!(r.counts(), (1, 1, 1));
        let text = r.render();
        let warn = text.find("Warnings").unwrap();
        let not = text.find("Not mapped").unwrap();
        let mapped = text.find("Mapped (1)").unwrap();
        assert!(warn < not && not < mapped, "{text}");
        assert!(text.contains("city.toml:9  daemon.patrol_interval  `1.5h`"), "{text}");
    }
}
