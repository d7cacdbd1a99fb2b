//! STUB (replaced by helper's module at merge).
use std::collections::BTreeMap;
pub struct Scope {
    pub rig_scoped: bool,
    pub config_dir: String,
}
#[derive(Clone, Debug)]
pub struct Fragment {
    pub name: String,
    pub body: String,
    pub file: String,
    pub line: usize,
}
#[derive(Clone, Debug)]
pub struct Untranslated {
    pub file: String,
    pub line: usize,
    pub construct: String,
    pub reason: String,
}
pub struct Translated {
    pub text: String,
    pub untranslated: Vec<Untranslated>,
    pub notes: Vec<Untranslated>,
}
pub fn parse_fragments(_file: &str, _text: &str) -> (Vec<Fragment>, Vec<Untranslated>) {
    (vec![], vec![])
}
pub fn translate(
    _file: &str,
    text: &str,
    _scope: &Scope,
    _f: &BTreeMap<String, Fragment>,
) -> Translated {
    Translated {
        text: format!("{{% raw %}}{text}{{% endraw %}}"),
        untranslated: vec![],
        notes: vec![],
    }
}
