//! Agent prompt templates: Jinja syntax (minijinja), rendered with the city, agent and rig.
//!
//! `gc validate` compiles every template and renders it against placeholder values with strict
//! undefined checks, so a misspelt variable is caught before any session starts.

use std::ops::Range;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// What a prompt template can refer to.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PromptContext {
    /// The city.
    pub city: CityContext,
    /// The agent the prompt is for.
    pub agent: AgentContext,
    /// The agent's rig; `none` for city-wide agents.
    pub rig: Option<RigContext>,
    /// The session the prompt starts.
    pub session: SessionContext,
}

/// `city.*` in templates.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CityContext {
    /// The City resource's name.
    pub name: String,
    /// Absolute path of the city directory.
    pub dir: String,
}

/// `agent.*` in templates.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AgentContext {
    /// The Agent resource's name.
    pub name: String,
    /// The name without its rig's `<rig>-` prefix (`polecat` for `demo-polecat` on rig
    /// `demo`): the role the agent plays, whichever rig it was stamped for.
    pub base: String,
    /// The provider that runs it.
    pub provider: String,
    /// Its work directory.
    pub work_dir: String,
    /// Its description, or empty.
    pub description: String,
}

/// `rig.*` in templates.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RigContext {
    /// The Rig resource's name.
    pub name: String,
    /// The rig's directory.
    pub path: String,
    /// Its bead prefix.
    pub prefix: String,
}

/// `session.*` in templates.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SessionContext {
    /// The session name (`gc-<city>-<agent>`, pool members `-<n>`).
    pub name: String,
    /// The pool member number, 0 for agents that are not pools.
    pub index: u32,
}

/// Why a template cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Byte range within the template text, when minijinja can tell.
    pub range: Option<Range<usize>>,
    /// 1-based line within the template text.
    pub line: Option<usize>,
}

/// The agent's name without the `<rig>-` prefix it carries when it works on `rig`.
pub fn agent_base(name: &str, rig: Option<&str>) -> String {
    rig.and_then(|r| name.strip_prefix(r)?.strip_prefix('-'))
        .filter(|base| !base.is_empty())
        .unwrap_or(name)
        .to_owned()
}

/// Renders `source` with `context`, failing on any undefined variable.
pub fn render(name: &str, source: &str, context: &PromptContext) -> Result<String, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let template = env.template_from_named_str(name, source).map_err(to_error)?;
    template.render(minijinja::value::Serde(context)).map_err(to_error)
}

/// Checks that `source` compiles and renders with placeholder values for `context`'s fields.
pub fn check(name: &str, source: &str, context: &PromptContext) -> Result<(), TemplateError> {
    render(name, source, context).map(drop)
}

fn to_error(e: minijinja::Error) -> TemplateError {
    let message = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    TemplateError { message, range: e.range(), line: e.line() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_variables_and_refuses_unknown_ones() {
        let ctx = PromptContext {
            agent: AgentContext { name: "mayor".into(), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(render("t", "I am {{ agent.name }}.", &ctx).unwrap(), "I am mayor.");
        let err = check("t", "line one\nI am {{ agent.nmae }}", &ctx).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("undefined"), "{}", err.message);
        let err = check("t", "{{ .Agent }}", &ctx).unwrap_err();
        assert_eq!(agent_base("demo-polecat", Some("demo")), "polecat");
        assert_eq!(agent_base("mayor", None), "mayor");
        assert_eq!(agent_base("demo", Some("demo")), "demo");
        assert_eq!(agent_base("demolition", Some("demo")), "demolition");
        assert!(err.message.contains("syntax"), "{}", err.message);
    }
}
