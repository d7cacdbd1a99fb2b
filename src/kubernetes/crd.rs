//! CustomResourceDefinitions for every kind and served version, generated from the same Rust
//! types a local city is read with: the OpenAPI v3 schema (through [`super::openapi`]), the
//! status subresource and the columns `kubectl get` prints.
//!
//! `gc crds` prints them; the files under `manifests/kubernetes/crds/` are [`crd_files`], and a
//! test fails when they drift from the types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::openapi::structural;
use crate::api::meta::{NAME_MAX_LEN, NAME_PATTERN};
use crate::api::{
    AgentSpec, CitySpec, FormulaSpec, GROUP, Kind, OrderSpec, ProviderSpec, RigSpec,
    SERVED_API_VERSIONS, VERSION, status,
};

/// The category every gc kind is in: `kubectl get gascity` lists them all.
pub const CATEGORY: &str = "gascity";

/// The first line of every generated file.
const HEADER: &str = "# Generated from gc's resource types by `gc crds --write manifests/kubernetes`; \
do not edit.\n";

/// Why the definitions could not be generated. Each is a bug in gc (the types and this module
/// disagree), never a problem of the user's.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A served version has no schema here: a version was added to
    /// [`SERVED_API_VERSIONS`] without its types being wired into [`version_schema`].
    #[error("served version `{version}` of {kind} has no schema")]
    NoSchemaForVersion {
        /// The kind.
        kind: Kind,
        /// The version, without the group.
        version: String,
    },
    /// A printer column points at a field the kind's schema does not have (a field renamed).
    #[error("the `{column}` column of {kind} points at `{path}`, which its schema lacks")]
    ColumnPathMissing {
        /// The kind.
        kind: Kind,
        /// The column's name.
        column: &'static str,
        /// Its JSON path.
        path: &'static str,
    },
    /// The converted schema is not one `JSONSchemaProps` can hold.
    #[error("the OpenAPI schema of {kind} does not fit a CRD: {source}")]
    Schema {
        /// The kind.
        kind: Kind,
        /// What did not fit.
        source: serde_json::Error,
    },
    /// A definition could not be turned into JSON for writing.
    #[error("could not write a CRD: {0}")]
    Write(#[from] serde_json::Error),
}

/// A column `kubectl get` prints for a kind, as `gc get` shows it.
struct Column {
    /// Header (kubectl upper-cases it).
    name: &'static str,
    /// JSON path into the object, `.spec.…` or `.status.…`.
    path: &'static str,
    /// Shown only with `-o wide`.
    wide: bool,
}

const fn column(name: &'static str, path: &'static str) -> Column {
    Column { name, path, wide: false }
}

const fn wide(name: &'static str, path: &'static str) -> Column {
    Column { name, path, wide: true }
}

/// The columns of `kind`, the ones `gc get` prints that a JSON path can reach (`gc get`'s
/// computed ones, such as an agent's `ready/desired`, become two columns); `Age` follows.
fn columns(kind: Kind) -> Vec<Column> {
    match kind {
        Kind::City => vec![
            column("Provider", ".spec.defaultProvider"),
            column("Sessions", ".spec.session.backend"),
            column("Beads", ".spec.beads.backend"),
            column("Suspended", ".spec.suspended"),
        ],
        Kind::Provider => vec![
            column("Command", ".spec.command"),
            column("Available", ".status.available"),
            wide("Path", ".status.path"),
            wide("Version", ".status.version"),
        ],
        Kind::Rig => vec![
            column("Path", ".spec.path"),
            column("Prefix", ".spec.prefix"),
            column("Suspended", ".spec.suspended"),
        ],
        Kind::Agent => vec![
            column("Provider", ".spec.provider"),
            column("Rig", ".spec.rig"),
            column("Ready", ".status.readySessions"),
            column("Desired", ".status.desiredSessions"),
            column("Restarts", ".status.restarts"),
            column("Status", ".status.phase"),
            wide("Min", ".spec.scaling.min"),
            wide("Max", ".spec.scaling.max"),
        ],
        Kind::Formula => vec![column("Type", ".spec.type"), column("Usable", ".status.usable")],
        Kind::Order => vec![
            column("Formula", ".spec.formula"),
            column("Exec", ".spec.exec"),
            column("Target", ".spec.target"),
            column("Enabled", ".spec.enabled"),
        ],
    }
}

/// The CRD's name: `<plural>.<group>`, as Kubernetes requires.
pub fn crd_name(kind: Kind) -> String {
    format!("{}.{GROUP}", kind.plural())
}

/// The draft 2020-12 schema of `T`, with its definitions, as schemars writes it (`Option`s
/// keep their `null`: they become `nullable`).
fn root_schema<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>().to_value()
}

/// The structural OpenAPI v3 schema of a whole `kind` object as served in `version` (without
/// the group): the envelope, `metadata` restricted to gc's names, the spec and the status.
/// `None` for a version this build does not serve.
pub fn version_schema(kind: Kind, version: &str) -> Option<Value> {
    if version != VERSION {
        return None;
    }
    let (spec, status) = match kind {
        Kind::City => (root_schema::<CitySpec>(), root_schema::<status::CityStatus>()),
        Kind::Agent => (root_schema::<AgentSpec>(), root_schema::<status::AgentStatus>()),
        Kind::Rig => (root_schema::<RigSpec>(), root_schema::<status::RigStatus>()),
        Kind::Provider => (root_schema::<ProviderSpec>(), root_schema::<status::ProviderStatus>()),
        Kind::Formula => (root_schema::<FormulaSpec>(), root_schema::<status::FormulaStatus>()),
        Kind::Order => (root_schema::<OrderSpec>(), root_schema::<status::OrderStatus>()),
    };
    let mut status = structural(&status);
    if let Value::Object(map) = &mut status {
        map.insert(
            "description".into(),
            "What gc's controller observed and did; written only by the controller.".into(),
        );
    }
    Some(json!({
        "description": format!(
            "A gc {} ({GROUP}/{version}): the same document as in a city's resource files; \
             `gc schema {}` describes it.",
            kind.as_str(),
            kind.as_str().to_ascii_lowercase()
        ),
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": format!("{GROUP}/{version}.")},
            "kind": {"type": "string", "description": kind.as_str()},
            // The API server allows restricting only the name here; gc's names are RFC 1123
            // labels (they become tmux session and file names), stricter than Kubernetes'.
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": NAME_MAX_LEN, "pattern": NAME_PATTERN}
                }
            },
            "spec": structural(&spec),
            "status": status
        }
    }))
}

/// The schema node `path` (`.spec.a.b`) leads to in `schema`, following `properties`.
fn node_at<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    path.trim_start_matches('.')
        .split('.')
        .try_fold(schema, |node, field| node.get("properties")?.get(field))
}

/// The printer columns of `kind`, typed by the schema nodes they point at.
fn printer_columns(
    kind: Kind,
    schema: &Value,
) -> Result<Vec<CustomResourceColumnDefinition>, CrdError> {
    let mut out = Vec::new();
    for c in columns(kind) {
        let node = node_at(schema, c.path).ok_or(CrdError::ColumnPathMissing {
            kind,
            column: c.name,
            path: c.path,
        })?;
        // kubectl prints objects, lists and free-form values as JSON text.
        let type_ = node
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| matches!(*t, "integer" | "number" | "boolean"))
            .unwrap_or("string");
        let description =
            node.get("description").and_then(Value::as_str).and_then(|d| d.lines().next());
        out.push(CustomResourceColumnDefinition {
            name: c.name.into(),
            json_path: c.path.into(),
            type_: type_.into(),
            description: description.map(str::to_owned),
            priority: c.wide.then_some(1),
            format: None,
        });
    }
    out.push(CustomResourceColumnDefinition {
        name: "Age".into(),
        json_path: ".metadata.creationTimestamp".into(),
        type_: "date".into(),
        ..Default::default()
    });
    Ok(out)
}

/// The CustomResourceDefinition of `kind`: namespaced, one entry per served version (the one
/// this build writes is the storage version), each with its schema, the status subresource and
/// printer columns.
pub fn definition(kind: Kind) -> Result<CustomResourceDefinition, CrdError> {
    let mut versions = Vec::new();
    for api_version in SERVED_API_VERSIONS {
        let version = api_version.strip_prefix(&format!("{GROUP}/")).unwrap_or(api_version);
        let schema = version_schema(kind, version)
            .ok_or_else(|| CrdError::NoSchemaForVersion { kind, version: version.into() })?;
        let columns = printer_columns(kind, &schema)?;
        let props: JSONSchemaProps =
            serde_json::from_value(schema).map_err(|source| CrdError::Schema { kind, source })?;
        versions.push(CustomResourceDefinitionVersion {
            name: version.into(),
            served: true,
            storage: version == VERSION,
            schema: Some(CustomResourceValidation { open_api_v3_schema: Some(props) }),
            subresources: Some(CustomResourceSubresources {
                status: Some(CustomResourceSubresourceStatus(Value::Object(Map::new()))),
                scale: None,
            }),
            additional_printer_columns: Some(columns),
            ..Default::default()
        });
    }
    Ok(CustomResourceDefinition {
        metadata: ObjectMeta { name: Some(crd_name(kind)), ..Default::default() },
        spec: CustomResourceDefinitionSpec {
            group: GROUP.into(),
            names: CustomResourceDefinitionNames {
                kind: kind.as_str().into(),
                list_kind: Some(format!("{}List", kind.as_str())),
                plural: kind.plural().into(),
                singular: Some(kind.as_str().to_ascii_lowercase()),
                categories: Some(vec![CATEGORY.into()]),
                // gc's own short names (`pv`, `ag`, …) would clash with the cluster's
                // (`pv` is a PersistentVolume): none, the category lists them all.
                short_names: None,
            },
            scope: "Namespaced".into(),
            versions,
            conversion: None,
            preserve_unknown_fields: None,
        },
        status: None,
    })
}

/// Every kind's definition, in [`Kind::ALL`] order.
pub fn definitions() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    Kind::ALL.into_iter().map(definition).collect()
}

/// `crd` as YAML kubectl reads back unchanged (see [`super::yaml`]).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    Ok(super::yaml::to_string(&serde_json::to_value(crd)?))
}

/// Every definition as one multi-document YAML stream (what `gc crds` prints).
pub fn definitions_yaml() -> Result<String, CrdError> {
    let mut out = String::from(HEADER);
    for (i, crd) in definitions()?.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(crd)?);
    }
    Ok(out)
}

/// The files `gc crds --write DIR` writes: `(path relative to DIR, YAML)`, one per kind under
/// `crds/` (as committed under `manifests/kubernetes/`).
pub fn crd_files() -> Result<Vec<(String, String)>, CrdError> {
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let text = format!("{HEADER}{}", to_yaml(&definition(kind)?)?);
            Ok((format!("crds/{}.yaml", crd_name(kind)), text))
        })
        .collect()
}
