//! Every formula and order file of Gas City's own repository (the shared fixtures, read where
//! they are) loads as a gc resource, or fails only with the unsupported-feature finding naming
//! the feature. Each pack is validated as a city of its own, so `formula`, `pool` and `extends`
//! references resolve; an explicit table of expected outcomes notices any change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use gascity::api::Kind;
use gascity::manifest::discover;
use gascity::validate::{Code, Scope, validate};

mod common;

/// Where the fixtures are (see [`common::gascity_fixtures`]); a path that does not exist when
/// they are not found, so the test reports the skip.
fn fixtures_root() -> PathBuf {
    common::gascity_fixtures().unwrap_or_else(|| PathBuf::from("shared/fixtures/gascity"))
}

/// What validating one fixture file gives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Loaded as a resource with no errors.
    Ok,
    /// Rejected only for these unsupported Gas City features.
    Unsupported(Vec<String>),
    /// Anything else: always a failure.
    Other(Vec<String>),
}

/// The expected outcome of every fixture file, by path below the fixtures root.
fn expected() -> BTreeMap<&'static str, Outcome> {
    use Outcome::*;
    BTreeMap::from([
        ("cmd/gc/testdata/formulas/cooking.toml", Ok),
        ("cmd/gc/testdata/formulas/pancakes.toml", Ok),
        ("cmd/gc/testdata/formulas/ralph-demo.toml", Ok),
        ("cmd/gc/testdata/formulas/ralph-retry-demo.toml", Ok),
        ("examples/dolt/formulas/mol-dog-backup.toml", Ok),
        ("examples/dolt/formulas/mol-dog-compactor.toml", Ok),
        ("examples/dolt/formulas/mol-dog-doctor.toml", Ok),
        ("examples/dolt/formulas/mol-dog-phantom-db.toml", Ok),
        ("examples/dolt/formulas/mol-dog-stale-db.toml", Ok),
        ("examples/dolt/formulas/mol-dolt-health.toml", Ok),
        ("examples/dolt/formulas/mol-dolt-remotes-patrol.toml", Ok),
        ("examples/dolt/orders/dolt-health.toml", Ok),
        ("examples/dolt/orders/dolt-remotes-patrol.toml", Ok),
        ("examples/dolt/orders/mol-dog-backup.toml", Ok),
        ("examples/dolt/orders/mol-dog-compactor.toml", Ok),
        ("examples/dolt/orders/mol-dog-doctor.toml", Ok),
        ("examples/dolt/orders/mol-dog-phantom-db.toml", Ok),
        ("examples/dolt/orders/mol-dog-stale-db.toml", Ok),
        ("examples/gastown/packs/gastown/formulas/mol-deacon-patrol.toml", Ok),
        ("examples/gastown/packs/gastown/formulas/mol-digest-generate.toml", Ok),
        ("examples/gastown/packs/gastown/formulas/mol-idea-to-plan.toml", Ok),
        ("examples/gastown/packs/gastown/formulas/mol-polecat-work.toml", Ok),
        ("examples/gastown/packs/gastown/formulas/mol-refinery-patrol.toml", Ok),
        ("examples/gastown/packs/gastown/formulas/mol-review-leg.toml", Ok),
        ("examples/gastown/packs/gastown/formulas/mol-witness-patrol.toml", Ok),
        ("examples/gastown/packs/gastown/orders/digest-generate.toml", Ok),
        ("examples/gastown/packs/maintenance/formulas/mol-dog-jsonl.toml", Ok),
        ("examples/gastown/packs/maintenance/formulas/mol-dog-reaper.toml", Ok),
        ("examples/gastown/packs/maintenance/formulas/mol-shutdown-dance.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/cross-rig-deps.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/gate-sweep.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/mol-dog-jsonl.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/mol-dog-reaper.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/orphan-sweep.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/prune-branches.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/spawn-storm-detect.toml", Ok),
        ("examples/gastown/packs/maintenance/orders/wisp-compact.toml", Ok),
        ("internal/bootstrap/packs/core/formulas/mol-do-work.toml", Ok),
        ("internal/bootstrap/packs/core/formulas/mol-polecat-base.toml", Ok),
        ("internal/bootstrap/packs/core/formulas/mol-polecat-commit.toml", Ok),
        ("internal/bootstrap/packs/core/formulas/mol-scoped-work.toml", Ok),
        ("internal/bootstrap/packs/core/orders/beads-health.toml", Ok),
    ])
}

/// Every `formulas/*.toml` and `orders/*.toml` below `root`, grouped by pack (the directory
/// holding `formulas/` and `orders/`), paths relative to `root`.
fn packs(root: &Path) -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let mut packs: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let path = entry.path();
        let Some(dir) = path.parent() else { continue };
        let in_kind_dir =
            matches!(dir.file_name().and_then(|n| n.to_str()), Some("formulas" | "orders"));
        if entry.file_type().is_file()
            && in_kind_dir
            && path.extension().is_some_and(|e| e == "toml")
        {
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let pack = relative.parent().unwrap().parent().unwrap().to_path_buf();
            packs.entry(pack).or_default().push(relative);
        }
    }
    packs
}

fn read_toml(path: &Path) -> toml::Table {
    std::fs::read_to_string(path).unwrap().parse().unwrap()
}

/// Every fixture formula by its `formula` name, so `extends` can reach across packs.
fn formulas_by_name(
    root: &Path,
    packs: &BTreeMap<PathBuf, Vec<PathBuf>>,
) -> BTreeMap<String, PathBuf> {
    packs
        .values()
        .flatten()
        .filter_map(|f| {
            let name = read_toml(&root.join(f)).get("formula")?.as_str()?.to_owned();
            Some((name, f.clone()))
        })
        .collect()
}

fn strings(table: &toml::Table, key: &str) -> Vec<String> {
    match table.get(key) {
        Some(toml::Value::String(s)) => vec![s.clone()],
        Some(toml::Value::Array(items)) => {
            items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()
        }
        _ => Vec::new(),
    }
}

fn agent(name: &str) -> String {
    format!(
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\nspec:\n  provider: shell\n"
    )
}

/// The first `…`-quoted word of a message: the feature an unsupported-feature finding names.
fn quoted(message: &str) -> Option<String> {
    let rest = &message[message.find('`')? + 1..];
    Some(rest[..rest.find('`')?].to_owned())
}

/// A resource that loaded: its kind, its name and the fixture it came from.
type LoadedAs = (Kind, String, PathBuf);

/// Validates one pack as a city: the City of the e2e tests, the pack's files as they are,
/// the formulas they extend from other packs, and an Agent for each `pool` an order names.
/// Returns the outcome of each of the pack's files and the resources that loaded.
fn validate_pack(
    root: &Path,
    files: &[PathBuf],
    by_name: &BTreeMap<String, PathBuf>,
) -> (BTreeMap<PathBuf, Outcome>, BTreeSet<LoadedAs>) {
    let city = tempfile::tempdir().unwrap();
    let write = |path: &Path, text: &str| {
        let full = city.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    };
    write(Path::new("city.yaml"), common::CITY);
    // Where each fixture lands in the city, and back.
    let mut placed: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut pools = BTreeSet::new();
    let mut wanted: Vec<String> = Vec::new();
    for file in files {
        let kind_dir = file.parent().unwrap().file_name().unwrap();
        let target = Path::new(kind_dir).join(file.file_name().unwrap());
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        write(&target, &text);
        placed.insert(target, file.clone());
        let table = read_toml(&root.join(file));
        wanted.extend(strings(&table, "extends"));
        if let Some(toml::Value::Table(order)) = table.get("order") {
            pools.extend(strings(order, "pool"));
        }
    }
    let own: BTreeSet<String> = files
        .iter()
        .filter_map(|f| read_toml(&root.join(f)).get("formula")?.as_str().map(str::to_owned))
        .collect();
    let mut seen = own.clone();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(dep) = by_name.get(&name) {
            write(
                &Path::new("deps/formulas").join(dep.file_name().unwrap()),
                &std::fs::read_to_string(root.join(dep)).unwrap(),
            );
            wanted.extend(strings(&read_toml(&root.join(dep)), "extends"));
        }
    }
    for pool in &pools {
        write(&Path::new("agents").join(format!("{pool}.yaml")), &agent(pool));
    }

    let scope = Scope {
        inputs: discover(&[city.path().to_path_buf()]).unwrap(),
        context: Vec::new(),
        city_dir: city.path().to_path_buf(),
        expect_city: true,
    };
    let validation = validate(&scope);
    let fixture_of = |name: &str| -> Option<PathBuf> {
        let relative = Path::new(name).strip_prefix(city.path()).ok()?;
        placed.get(relative).cloned()
    };
    let mut errors: BTreeMap<PathBuf, Vec<(Code, String)>> = BTreeMap::new();
    for d in validation.diagnostics.iter().filter(|d| d.is_error()) {
        match d.position().and_then(|(file, _, _)| fixture_of(file)) {
            Some(fixture) => errors.entry(fixture).or_default().push((d.code, d.message.clone())),
            None => {
                let (file, line, column) = d.position().unwrap_or(("<city>", 0, 0));
                // Findings in the helper files of the temporary city are a broken test.
                assert!(
                    file.contains("/deps/"),
                    "{file}:{line}:{column}: {} ({:?})",
                    d.message,
                    d.code
                );
            }
        }
    }
    let outcomes = files
        .iter()
        .map(|file| {
            let outcome = match errors.get(file) {
                None => Outcome::Ok,
                Some(errs) if errs.iter().all(|(c, _)| *c == Code::UnsupportedGasCityFeature) => {
                    let features: BTreeSet<String> =
                        errs.iter().filter_map(|(_, m)| quoted(m)).collect();
                    Outcome::Unsupported(features.into_iter().collect())
                }
                Some(errs) => Outcome::Other(
                    errs.iter().map(|(c, m)| format!("{}: {m}", c.as_str())).collect(),
                ),
            };
            (file.clone(), outcome)
        })
        .collect();
    let loaded = validation
        .resources
        .iter()
        .filter_map(|l| {
            let fixture = fixture_of(&l.doc.file.name)?;
            Some((l.resource.kind(), l.resource.name().to_owned(), fixture))
        })
        .collect();
    (outcomes, loaded)
}

#[test]
fn every_gas_city_formula_and_order_loads_or_names_its_unsupported_feature() {
    let root = fixtures_root();
    if !root.is_dir() {
        eprintln!("skipped: no Gas City fixtures at {} (set GC_GASCITY_FIXTURES)", root.display());
        return;
    }
    let packs = packs(&root);
    let by_name = formulas_by_name(&root, &packs);
    let mut outcomes: BTreeMap<PathBuf, Outcome> = BTreeMap::new();
    let mut loaded = BTreeSet::new();
    for files in packs.values() {
        let (o, l) = validate_pack(&root, files, &by_name);
        outcomes.extend(o);
        loaded.extend(l);
    }

    println!("{:<72} outcome", "file");
    for (file, outcome) in &outcomes {
        println!("{:<72} {outcome:?}", file.display());
    }
    let mut features: BTreeMap<&str, usize> = BTreeMap::new();
    for outcome in outcomes.values() {
        if let Outcome::Unsupported(f) = outcome {
            for feature in f {
                *features.entry(feature).or_default() += 1;
            }
        }
    }
    let ok = outcomes.values().filter(|o| **o == Outcome::Ok).count();
    println!("{ok} of {} files load; unsupported features (files): {features:?}", outcomes.len());

    let others: Vec<_> = outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Other(_))).collect();
    assert!(
        others.is_empty(),
        "files failing for other reasons than unsupported features: {others:#?}"
    );
    let expected: BTreeMap<PathBuf, Outcome> =
        expected().into_iter().map(|(f, o)| (PathBuf::from(f), o)).collect();
    assert_eq!(outcomes, expected, "the outcome of some fixture changed: update the table");

    // Each file that loads is a resource of the kind its directory says, named as Gas City
    // names it: formulas by `formula`, orders by the file stem.
    for (file, outcome) in &outcomes {
        if *outcome != Outcome::Ok {
            continue;
        }
        let is_order = file.parent().unwrap().ends_with("orders");
        let (kind, name) = if is_order {
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            (Kind::Order, stem)
        } else {
            let table = read_toml(&root.join(file));
            (Kind::Formula, table["formula"].as_str().unwrap().to_owned())
        };
        assert!(
            loaded.contains(&(kind, name.clone(), file.clone())),
            "{}: expected {kind:?} `{name}` to load",
            file.display()
        );
    }
}
