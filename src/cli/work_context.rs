//! What the work verbs (`sling`, `hook`, `mail`, `prime`) share: the city's model, who is
//! acting, and which agent a command is about.

use std::path::PathBuf;

use crate::controllers::model::CityModel;
use crate::store::Store;
use crate::work::stores::unknown_agent;

/// A loaded city for a work verb.
pub struct WorkContext {
    /// Absolute city directory.
    pub city_dir: PathBuf,
    /// The applied resources.
    pub model: CityModel,
}

impl WorkContext {
    /// Loads the applied resources of the city `city` (or the one around the current
    /// directory), without reading prompt templates: agents run `gc hook` in a loop.
    pub fn load(city: Option<PathBuf>) -> Result<WorkContext, Box<dyn std::error::Error>> {
        WorkContext::open(city, false)
    }

    /// Like [`WorkContext::load`], with the prompt templates (to render prompts).
    pub fn load_with_templates(
        city: Option<PathBuf>,
    ) -> Result<WorkContext, Box<dyn std::error::Error>> {
        WorkContext::open(city, true)
    }

    fn open(
        city: Option<PathBuf>,
        templates: bool,
    ) -> Result<WorkContext, Box<dyn std::error::Error>> {
        let city_dir = std::path::absolute(super::city_dir_or_cwd(city)?)?;
        let store = Store::new(&city_dir);
        let model = if templates {
            CityModel::load(&city_dir, &store)?
        } else {
            CityModel::load_specs(&city_dir, &store)?
        };
        Ok(WorkContext { city_dir, model })
    }

    /// The agent named on the command line, else the one whose session this is (`GC_AGENT`);
    /// an error naming the applied agents when neither names an applied agent.
    pub fn agent(&self, named: Option<&str>) -> Result<String, Box<dyn std::error::Error>> {
        let from_env = std::env::var("GC_AGENT").ok().filter(|a| !a.is_empty());
        let Some(agent) = named.map(str::to_owned).or(from_env) else {
            return Err(
                "name an agent (or run this inside an agent's session, where GC_AGENT is set)"
                    .into(),
            );
        };
        if !self.model.agents.contains_key(&agent) {
            return Err(unknown_agent(&self.model, &agent).into());
        }
        Ok(agent)
    }
}

/// The session this command runs inside (`GC_SESSION`), when it names one validly.
pub fn session_from_env() -> Option<String> {
    std::env::var("GC_SESSION").ok().filter(|s| crate::runtime::validate_name(s).is_ok())
}

/// `BEADS_ACTOR` when it is one of `agent`'s session actors (`agent` or `agent-<n>`), else the
/// agent's own name: whose work and mail a command inside a session is about.
pub fn member_of(agent: &str) -> String {
    std::env::var("BEADS_ACTOR")
        .ok()
        .filter(|actor| crate::controllers::launch::is_base_or_member(agent, actor))
        .unwrap_or_else(|| agent.to_owned())
}

/// Who acts: `--actor`, else `BEADS_ACTOR`, `BD_ACTOR`, `USER`.
pub fn actor(explicit: Option<&str>) -> String {
    crate::beads::layout::actor(explicit)
}
