//! The apply planner: desired objects versus the store, as a list of changes with reasons.
//! Pure: `gc diff`, `gc apply --dry-run` and `gc apply` all print or carry out this one plan.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::fields::{FieldChange, diff};
use crate::api::Kind;
use crate::store::{Damaged, DesiredObject, StoredObject};

/// What apply does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Not in the store yet.
    Create,
    /// In the store with a different spec, labels or annotations.
    Configure,
    /// In the store exactly as declared.
    Unchanged,
    /// In the store but no longer declared.
    Prune,
    /// In the store as a file that does not read (damaged, edited by hand): written afresh
    /// from what is declared, as a new object.
    Repair,
}

impl Action {
    /// The past-tense word kubectl prints (`created`, `configured`, `unchanged`, `pruned`).
    pub fn past_tense(self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Configure => "configured",
            Action::Unchanged => "unchanged",
            Action::Prune => "pruned",
            Action::Repair => "repaired",
        }
    }
}

/// One planned change.
#[derive(Clone, Debug)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// The resource's kind.
    pub kind: Kind,
    /// The resource's name.
    pub name: String,
    /// What the files declare (absent for prunes).
    pub desired: Option<DesiredObject>,
    /// What the store holds (absent for creates, and for objects known unchanged by digest).
    pub applied: Option<StoredObject>,
    /// Every changed field (`spec…` and `metadata.labels…`/`metadata.annotations…`).
    pub fields: Vec<FieldChange>,
}

impl Change {
    /// `agent/mayor`.
    pub fn key(&self) -> String {
        self.kind.key(&self.name)
    }

    /// Whether the spec itself changes (which bumps `metadata.generation`).
    pub fn spec_changed(&self) -> bool {
        self.fields.iter().any(|f| f.pointer.starts_with("/spec"))
    }
}

/// Which stored objects that are no longer declared get pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prune {
    /// None (`gc apply -f FILE` without `--prune`).
    Nothing,
    /// Every one (`gc apply` of the whole city).
    All,
    /// Those last applied from these files (`gc apply -f FILE --prune`), relative to the city.
    FromSources(BTreeSet<String>),
}

impl Prune {
    /// Whether a stored object last applied from `source` is pruned when no file declares it.
    pub fn covers(&self, source: Option<&String>) -> bool {
        match self {
            Prune::Nothing => false,
            Prune::All => true,
            Prune::FromSources(files) => source.is_some_and(|s| files.contains(s)),
        }
    }
}

/// What the store holds, as far as a plan needs to know.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Stored objects that may differ from what is declared, or may be pruned.
    pub objects: Vec<StoredObject>,
    /// Declared resources known, by digest, to be stored exactly as declared (not read).
    pub same: BTreeSet<(Kind, String)>,
    /// Stored files that do not read as objects: repaired when declared, else pruned.
    pub damaged: Vec<Damaged>,
}

/// Plans applying `desired` over `applied`. Changes come in kind order (City, Provider, Rig,
/// Agent, Formula, Order) then by name; prunes last, in reverse kind order.
pub fn plan(desired: &[DesiredObject], applied: &Applied, prune: &Prune) -> Vec<Change> {
    let stored: BTreeMap<(Kind, &str), &StoredObject> =
        applied.objects.iter().map(|o| ((o.kind, o.metadata.name.as_str()), o)).collect();
    let damaged: BTreeSet<(Kind, &str)> =
        applied.damaged.iter().map(|d| (d.kind, d.name.as_str())).collect();
    let mut changes: Vec<Change> = desired
        .iter()
        .map(|d| {
            if applied.same.contains(&(d.kind, d.name.clone())) {
                return Change {
                    action: Action::Unchanged,
                    kind: d.kind,
                    name: d.name.clone(),
                    desired: Some(d.clone()),
                    applied: None,
                    fields: Vec::new(),
                };
            }
            let current = stored.get(&(d.kind, d.name.as_str())).copied();
            let fields = compare(current, d);
            let action = match current {
                None if damaged.contains(&(d.kind, d.name.as_str())) => Action::Repair,
                None => Action::Create,
                Some(_) if fields.is_empty() => Action::Unchanged,
                Some(_) => Action::Configure,
            };
            Change {
                action,
                kind: d.kind,
                name: d.name.clone(),
                desired: Some(d.clone()),
                applied: current.cloned(),
                fields,
            }
        })
        .collect();
    changes.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));

    let declared: BTreeSet<(Kind, &str)> =
        desired.iter().map(|d| (d.kind, d.name.as_str())).collect();
    let mut prunes: Vec<Change> = applied
        .objects
        .iter()
        .filter(|o| !declared.contains(&(o.kind, o.metadata.name.as_str())))
        .filter(|o| prune.covers(o.source.as_ref()))
        .map(|o| Change {
            action: Action::Prune,
            kind: o.kind,
            name: o.metadata.name.clone(),
            desired: None,
            applied: Some(o.clone()),
            fields: Vec::new(),
        })
        .collect();
    // A damaged file nothing declares any more goes when the whole city is applied (which
    // file it came from cannot be read from it).
    prunes.extend(
        applied
            .damaged
            .iter()
            .filter(|_| *prune == Prune::All)
            .filter(|d| !declared.contains(&(d.kind, d.name.as_str())))
            .map(|d| Change {
                action: Action::Prune,
                kind: d.kind,
                name: d.name.clone(),
                desired: None,
                applied: None,
                fields: Vec::new(),
            }),
    );
    // Dependents go before what they depend on (orders and agents before providers).
    prunes.sort_by(|a, b| (b.kind, &a.name).cmp(&(a.kind, &b.name)));
    changes.extend(prunes);
    changes
}

fn compare(current: Option<&StoredObject>, desired: &DesiredObject) -> Vec<FieldChange> {
    let Some(current) = current else { return Vec::new() };
    let mut out = Vec::new();
    let as_value = |m: &BTreeMap<String, String>| -> Value {
        Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    };
    diff(
        "/metadata/labels",
        Some(&as_value(&current.metadata.labels)),
        Some(&as_value(&desired.labels)),
        &mut out,
    );
    diff(
        "/metadata/annotations",
        Some(&as_value(&current.metadata.annotations)),
        Some(&as_value(&desired.annotations)),
        &mut out,
    );
    diff("/spec", Some(&current.spec), Some(&desired.spec), &mut out);
    out
}

/// Counts per action, for the summary line.
pub fn summary(changes: &[Change]) -> String {
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    format!(
        "{} created, {} configured, {} unchanged, {} pruned{}",
        count(Action::Create),
        count(Action::Configure),
        count(Action::Unchanged),
        count(Action::Prune),
        match count(Action::Repair) {
            0 => String::new(),
            n => format!(", {n} repaired"),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired(kind: Kind, name: &str, spec: Value) -> DesiredObject {
        DesiredObject {
            kind,
            name: name.into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            spec,
            source: Some(format!("{name}.yaml")),
        }
    }

    fn stored(d: &DesiredObject) -> StoredObject {
        d.stored(1, "1".into(), "2026-01-01T00:00:00Z".into(), "u".into())
    }

    #[test]
    fn classifies_create_configure_unchanged_and_prune() {
        let same = desired(Kind::Agent, "same", json!({"a": 1}));
        let old = desired(Kind::Agent, "edited", json!({"env": {"L": "info"}}));
        let new = desired(Kind::Agent, "edited", json!({"env": {"L": "debug"}}));
        let gone = desired(Kind::Provider, "gone", json!({}));
        let fresh = desired(Kind::Rig, "fresh", json!({}));
        let applied = Applied {
            objects: vec![stored(&same), stored(&old), stored(&gone)],
            ..Applied::default()
        };
        let wanted = [same.clone(), new, fresh];

        let changes = plan(&wanted, &applied, &Prune::All);
        let got: Vec<(String, Action)> = changes.iter().map(|c| (c.key(), c.action)).collect();
        assert_eq!(
            got,
            [
                ("rig/fresh".into(), Action::Create),
                ("agent/edited".into(), Action::Configure),
                ("agent/same".into(), Action::Unchanged),
                ("provider/gone".into(), Action::Prune),
            ]
        );
        assert_eq!(changes[1].fields[0].describe(), "spec.env.L: \"info\" → \"debug\"");
        assert!(changes[1].spec_changed());

        assert!(plan(&wanted, &applied, &Prune::Nothing).iter().all(|c| c.action != Action::Prune));
        let only_other_file = Prune::FromSources(["other.yaml".to_owned()].into());
        assert!(
            plan(&wanted, &applied, &only_other_file).iter().all(|c| c.action != Action::Prune)
        );
        let its_file = Prune::FromSources(["gone.yaml".to_owned()].into());
        assert_eq!(plan(&wanted, &applied, &its_file).last().unwrap().action, Action::Prune);
    }

    #[test]
    fn a_damaged_stored_file_is_repaired_when_declared_and_pruned_only_with_the_whole_city() {
        let declared = desired(Kind::Agent, "mayor", json!({"a": 1}));
        let damaged =
            |name: &str| Damaged { kind: Kind::Agent, name: name.into(), error: "not JSON".into() };
        let applied =
            Applied { damaged: vec![damaged("mayor"), damaged("stray")], ..Applied::default() };
        let got = |prune: &Prune| -> Vec<(String, Action)> {
            plan(std::slice::from_ref(&declared), &applied, prune)
                .iter()
                .map(|c| (c.key(), c.action))
                .collect()
        };
        assert_eq!(
            got(&Prune::All),
            [("agent/mayor".into(), Action::Repair), ("agent/stray".into(), Action::Prune)]
        );
        // Which file a damaged object came from cannot be read: only a whole-city apply
        // prunes it.
        let from_file = Prune::FromSources(["agents.yaml".to_owned()].into());
        assert_eq!(got(&from_file), [("agent/mayor".into(), Action::Repair)]);
        assert!(
            summary(&plan(std::slice::from_ref(&declared), &applied, &Prune::Nothing))
                .ends_with("1 repaired")
        );
    }

    #[test]
    fn label_only_changes_configure_without_a_spec_change() {
        let mut d = desired(Kind::Agent, "a", json!({}));
        let applied = Applied { objects: vec![stored(&d)], ..Applied::default() };
        d.labels.insert("team".into(), "core".into());
        let changes = plan(&[d], &applied, &Prune::Nothing);
        assert_eq!(changes[0].action, Action::Configure);
        assert!(!changes[0].spec_changed());
    }

    #[test]
    fn objects_known_same_by_digest_are_unchanged_without_being_read() {
        let same = desired(Kind::Agent, "same", json!({"a": 1}));
        let edited = desired(Kind::Agent, "edited", json!({"a": 2}));
        let applied = Applied {
            objects: vec![stored(&desired(Kind::Agent, "edited", json!({"a": 1})))],
            same: [(Kind::Agent, "same".to_owned())].into(),
            ..Applied::default()
        };
        let changes = plan(&[same, edited], &applied, &Prune::All);
        let got: Vec<(String, Action)> = changes.iter().map(|c| (c.key(), c.action)).collect();
        assert_eq!(
            got,
            [("agent/edited".into(), Action::Configure), ("agent/same".into(), Action::Unchanged)]
        );
    }
}
