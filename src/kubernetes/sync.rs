//! The cluster's custom resources as the local city the planners read, and the planners'
//! status as the status the cluster shows.
//!
//! The in-cluster controller keeps a city directory of its own (on the workspace volume). What
//! the cluster holds is written there as one file, `.gc/kubernetes/resources.yaml`, and applied
//! the way `gc apply -f FILE --prune` applies a file: validated as a whole, so an invalid
//! resource applies nothing and leaves the last good state running, and pruned by source, so a
//! custom resource deleted from the cluster is deleted from the city. [`render`] and
//! [`cluster_status`] are pure; [`apply_rendered`] does the I/O.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use kube::core::DynamicObject;
use serde_json::Value;

use crate::api::Kind;
use crate::kubernetes::mirror::{self, MirrorError};
use crate::store::Store;
use crate::validate::Severity;

/// The cluster's resources as one multi-document file, and where each document sits in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// The file's text: JSON documents (valid YAML) separated by `---`.
    pub text: String,
    /// Byte range of each document in `text`, with the object it came from and the
    /// `metadata.generation` the cluster gave it.
    pub documents: Vec<RenderedDocument>,
    /// Objects that are no gc resource (an unserved version, no name): left out, said once.
    pub refused: Vec<MirrorError>,
}

/// One document of a [`Rendered`] file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedDocument {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// The custom resource's `metadata.generation` (0 when the API server gave none).
    pub generation: i64,
    /// Where it is in the file.
    pub span: Range<usize>,
}

/// Renders `objects` (every custom resource of every kind the controller watches), sorted by
/// kind and name so that the same cluster state always gives the same file.
pub fn render(objects: &[(Kind, DynamicObject)]) -> Rendered {
    let mut sorted: Vec<&(Kind, DynamicObject)> = objects.iter().collect();
    sorted.sort_by(|a, b| {
        (a.0.as_str(), a.1.metadata.name.as_deref())
            .cmp(&(b.0.as_str(), b.1.metadata.name.as_deref()))
    });
    let mut out = Rendered::default();
    for (kind, object) in sorted {
        let document = match mirror::document(*kind, object) {
            Ok(document) => document,
            Err(refused) => {
                out.refused.push(refused);
                continue;
            }
        };
        if !out.text.is_empty() {
            out.text.push_str("---\n");
        }
        let start = out.text.len();
        // serde_json's output is valid YAML 1.2 and keeps every string exactly as it was.
        out.text.push_str(&serde_json::to_string_pretty(&document).unwrap_or_default());
        out.text.push('\n');
        out.documents.push(RenderedDocument {
            kind: *kind,
            name: object.metadata.name.clone().unwrap_or_default(),
            generation: object.metadata.generation.unwrap_or(0),
            span: start..out.text.len(),
        });
    }
    out
}

/// Where the rendered file lives in the controller's city directory: under `.gc/`, so a city
/// whose own files are also on the workspace volume never loads it twice.
pub fn resources_file(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc").join("kubernetes").join("resources.yaml")
}

/// A validation finding about one custom resource, to be said as a Warning Event on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The resource's kind, when the finding is inside a document.
    pub kind: Option<Kind>,
    /// Its name.
    pub name: Option<String>,
    /// What is wrong (with the field, when known).
    pub message: String,
}

/// What one [`apply_rendered`] did.
#[derive(Debug, Default)]
pub struct Synced {
    /// Resources created, configured or pruned in the city.
    pub changed: usize,
    /// Why nothing was applied (errors) and what was applied with a warning.
    pub problems: Vec<Problem>,
    /// Whether the cluster's state was applied (false: invalid, the city kept its last state).
    pub applied: bool,
    /// For each applied resource: the cluster's generation and the city's generation of it,
    /// so a status can say which cluster generation it has observed.
    pub generations: BTreeMap<(Kind, String), (i64, u64)>,
    /// The applied City's `session` settings (canonical JSON), which choose where sessions
    /// run; `None` while no City is applied.
    pub session: Option<String>,
}

/// Why the cluster's resources could not be applied at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The rendered file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The city's files could not be read.
    #[error(transparent)]
    Load(#[from] crate::apply::LoadError),
    /// The store could not be written.
    #[error(transparent)]
    Apply(#[from] crate::apply::ApplyError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Writes `rendered` to [`resources_file`] and applies it to the city in `city_dir`, pruning
/// what an earlier rendering declared and this one does not. An invalid rendering changes
/// nothing; its findings come back as [`Synced::problems`].
pub fn apply_rendered(city_dir: &Path, rendered: &Rendered) -> Result<Synced, SyncError> {
    let path = resources_file(city_dir);
    write_atomically(&path, &rendered.text)
        .map_err(|source| SyncError::Write { path: path.clone(), source })?;
    let declared = crate::apply::load(std::slice::from_ref(&path), Some(city_dir), city_dir, true)?;
    let problems: Vec<Problem> = declared
        .validation
        .diagnostics
        .iter()
        .map(|d| {
            let at = d.location.as_ref().map(|(_, range)| range.start);
            let document =
                at.and_then(|at| rendered.documents.iter().find(|r| r.span.contains(&at)));
            let field = d.pointer.as_deref().filter(|p| !p.is_empty());
            let severity = if d.severity == Severity::Error { "" } else { "warning: " };
            Problem {
                kind: document.map(|r| r.kind),
                name: document.map(|r| r.name.clone()),
                message: match field {
                    Some(field) => format!("{severity}{field}: {}", d.message),
                    None => format!("{severity}{}", d.message),
                },
            }
        })
        .collect();
    if !declared.validation.is_valid() {
        return Ok(Synced { problems, ..Synced::default() });
    }
    let store = Store::new(city_dir);
    let changes = crate::apply::apply(&store, &declared, "gc controller")?;
    let mut generations = BTreeMap::new();
    for document in &rendered.documents {
        if let Some(applied) = store.get(document.kind, &document.name)? {
            generations.insert(
                (document.kind, document.name.clone()),
                (document.generation, applied.metadata.generation),
            );
        }
    }
    let changed = changes.iter().filter(|c| c.action != crate::apply::Action::Unchanged).count();
    let session = store
        .list_kind(Kind::City)?
        .objects
        .first()
        .map(|city| city.spec.get("session").map(Value::to_string).unwrap_or_default());
    Ok(Synced { changed, problems, applied: true, generations, session })
}

/// `problems` with each one about the city as a whole (no document of its own: "no City
/// resource found") put on resources a person looks at with `kubectl describe`: the City when
/// there is one, else every resource the cluster holds, which none of them can work without.
pub fn regarding(problems: Vec<Problem>, documents: &[RenderedDocument]) -> Vec<Problem> {
    let city = documents.iter().find(|d| d.kind == Kind::City);
    let mut out = Vec::new();
    for problem in problems {
        if problem.kind.is_some() {
            out.push(problem);
            continue;
        }
        let on: Vec<&RenderedDocument> = match city {
            Some(city) => vec![city],
            None => documents.iter().collect(),
        };
        for document in &on {
            out.push(Problem {
                kind: Some(document.kind),
                name: Some(document.name.clone()),
                message: problem.message.clone(),
            });
        }
        if on.is_empty() {
            out.push(problem);
        }
    }
    out
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(".resources.yaml.tmp");
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, path)
}

/// The status the cluster shows for a resource: gc's `local` status, with its
/// `observedGeneration` (a generation of the city's copy) translated to the custom resource's.
/// `generations` is what the last apply recorded: `(cluster generation, city generation)`.
/// When gc has observed the city generation that apply made, it has observed the cluster
/// generation it came from; when it has not yet, the field is left out rather than guessed.
pub fn cluster_status(local: &Value, generations: Option<(i64, u64)>) -> Value {
    let mut status = local.clone();
    let Some(fields) = status.as_object_mut() else {
        return status;
    };
    let observed = fields.remove("observedGeneration").and_then(|g| g.as_u64());
    if let (Some(observed), Some((cluster, city))) = (observed, generations)
        && observed == city
        && cluster > 0
    {
        fields.insert("observedGeneration".into(), cluster.into());
    }
    status
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(kind: &str, name: &str, generation: i64, spec: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "gascity.dev/v1alpha1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "gascity", "generation": generation,
                         "resourceVersion": "12"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn the_same_cluster_renders_the_same_file_whatever_the_order() {
        let a = (Kind::Agent, object("Agent", "b-worker", 2, json!({"provider": "sh"})));
        let b = (Kind::Agent, object("Agent", "a-worker", 1, json!({"provider": "sh"})));
        let c = (Kind::City, object("City", "town", 5, json!({})));
        let one = render(&[a.clone(), b.clone(), c.clone()]);
        let two = render(&[c, b, a]);
        assert_eq!(one, two);
        let names: Vec<&str> = one.documents.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a-worker", "b-worker", "town"]);
        // Each span holds exactly its own document.
        for document in &one.documents {
            let text = &one.text[document.span.clone()];
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parsed["metadata"]["name"], document.name.as_str());
            assert!(!text.contains("resourceVersion"), "server fields are left out: {text}");
        }
        assert_eq!(one.documents[1].generation, 2);
    }

    #[test]
    fn objects_that_are_no_gc_resource_are_left_out_and_said() {
        let old: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gascity.dev/v0", "kind": "Agent",
            "metadata": {"name": "w"}, "spec": {}
        }))
        .unwrap();
        let rendered = render(&[(Kind::Agent, old)]);
        assert!(rendered.text.is_empty());
        assert_eq!(rendered.refused.len(), 1);
    }

    #[test]
    fn problems_of_the_whole_city_are_put_on_what_people_describe() {
        let document = |kind, name: &str| RenderedDocument {
            kind,
            name: name.into(),
            generation: 1,
            span: 0..1,
        };
        let whole = Problem { kind: None, name: None, message: "no City".into() };
        let own = Problem {
            kind: Some(Kind::Agent),
            name: Some("a".into()),
            message: "bad provider".into(),
        };
        let agents = [document(Kind::Agent, "a"), document(Kind::Agent, "b")];
        let put = regarding(vec![whole.clone(), own.clone()], &agents);
        let on: Vec<(Option<&str>, &str)> =
            put.iter().map(|p| (p.name.as_deref(), p.message.as_str())).collect();
        assert_eq!(
            on,
            [(Some("a"), "no City"), (Some("b"), "no City"), (Some("a"), "bad provider")]
        );
        let with_city = [document(Kind::City, "town"), document(Kind::Agent, "a")];
        let put = regarding(vec![whole.clone()], &with_city);
        assert_eq!(put.len(), 1);
        assert_eq!((put[0].kind, put[0].name.as_deref()), (Some(Kind::City), Some("town")));
        assert_eq!(regarding(vec![whole.clone()], &[]), [whole]);
    }

    #[test]
    fn observed_generation_speaks_of_the_clusters_generations() {
        let local = json!({"observedGeneration": 3, "ready": 1});
        assert_eq!(
            cluster_status(&local, Some((7, 3))),
            json!({"observedGeneration": 7, "ready": 1})
        );
        // Not caught up with the last apply yet: no claim at all.
        assert_eq!(cluster_status(&local, Some((8, 4))), json!({"ready": 1}));
        assert_eq!(cluster_status(&local, None), json!({"ready": 1}));
        assert_eq!(cluster_status(&json!({"ready": 0}), Some((1, 1))), json!({"ready": 0}));
    }
}
