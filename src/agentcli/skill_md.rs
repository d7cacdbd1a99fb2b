//! Front matter of skills (`SKILL.md`) and Markdown commands: reading `name` and
//! `description`, writing them where a file has none (Codex and Gemini CLI skip a skill
//! without them; Claude Code takes its first heading), and turning a command into the forms
//! other CLIs read. All pure.

/// A Markdown file split into its front matter (the YAML between the opening `---` line and
/// the next `---` line) and its body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Markdown<'a> {
    /// The front matter, when the file has a block that parses as a YAML mapping.
    pub front: Option<serde_yaml_ng::Mapping>,
    /// Everything after it (the whole text without front matter).
    pub body: &'a str,
}

impl<'a> Markdown<'a> {
    /// Splits `text`; a block that does not close or is not a mapping counts as body.
    pub fn parse(text: &'a str) -> Markdown<'a> {
        let whole = Markdown { front: None, body: text };
        let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
            return whole;
        };
        let mut offset = 0;
        for line in rest.split_inclusive('\n') {
            if line.trim_end() == "---" {
                let yaml = &rest[..offset];
                let body = &rest[offset + line.len()..];
                return match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(yaml) {
                    Ok(serde_yaml_ng::Value::Mapping(map)) => Markdown { front: Some(map), body },
                    Ok(serde_yaml_ng::Value::Null) => {
                        Markdown { front: Some(serde_yaml_ng::Mapping::new()), body }
                    }
                    _ => whole,
                };
            }
            offset += line.len();
        }
        whole
    }

    /// A string field of the front matter, trimmed; none when missing or empty.
    pub fn field(&self, key: &str) -> Option<String> {
        let value = self.front.as_ref()?.get(key)?.as_str()?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The description: the front matter's, else the first line of the body with a heading's
    /// `#`s taken off.
    pub fn description(&self) -> Option<String> {
        self.field("description").or_else(|| {
            let line = self.body.lines().map(str::trim).find(|l| !l.is_empty())?;
            let line = line.trim_start_matches('#').trim();
            (!line.is_empty()).then(|| line.to_owned())
        })
    }
}

/// `text` with `name` and `description` front matter when it lacks either (keeping the rest
/// of any front matter it has); none when it has both already.
pub fn with_front_matter(name: &str, text: &str) -> Option<String> {
    let md = Markdown::parse(text);
    if md.field("name").is_some() && md.field("description").is_some() {
        return None;
    }
    let mut front = md.front.clone().unwrap_or_default();
    front.insert("name".into(), md.field("name").unwrap_or_else(|| name.to_owned()).into());
    front.insert("description".into(), md.description().unwrap_or_else(|| name.to_owned()).into());
    let yaml = serde_yaml_ng::to_string(&front).ok()?;
    Some(format!("---\n{yaml}---\n{}", md.body))
}

/// A Markdown command as a skill's `SKILL.md` (`name` from the command's file name).
pub fn command_as_skill(name: &str, text: &str) -> String {
    let md = Markdown::parse(text);
    let mut front = serde_yaml_ng::Mapping::new();
    front.insert("name".into(), name.into());
    front.insert("description".into(), md.description().unwrap_or_else(|| name.to_owned()).into());
    let yaml = serde_yaml_ng::to_string(&front).unwrap_or_default();
    format!("---\n{yaml}---\n{}", md.body)
}

/// A Markdown command as a Gemini CLI command file: `description` and `prompt` (the body, with
/// Claude's `$ARGUMENTS` written as Gemini's `{{args}}`).
pub fn command_as_gemini_toml(text: &str) -> String {
    let md = Markdown::parse(text);
    let mut table = toml::Table::new();
    if let Some(description) = md.description() {
        table.insert("description".into(), description.into());
    }
    table.insert("prompt".into(), md.body.trim().replace("$ARGUMENTS", "{{args}}").into());
    toml::to_string(&table).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_body_split_on_the_closing_dashes() {
        let md = Markdown::parse("---\nname: x\ndescription: >-\n  Folded\n  text\n---\n# Body\n");
        assert_eq!(md.field("name").as_deref(), Some("x"));
        assert_eq!(md.description().as_deref(), Some("Folded text"));
        assert_eq!(md.body, "# Body\n");
        let unclosed = Markdown::parse("---\nname: x\n");
        assert!(unclosed.front.is_none());
        assert_eq!(unclosed.body, "---\nname: x\n");
    }

    #[test]
    fn a_skill_without_front_matter_gets_its_name_and_first_heading() {
        let text = "# /recall — Query memory for relevant rules\n\nRun `cm recall`.\n";
        let out = with_front_matter("recall", text).unwrap();
        let md = Markdown::parse(&out);
        assert_eq!(md.field("name").as_deref(), Some("recall"));
        assert_eq!(
            md.field("description").as_deref(),
            Some("/recall — Query memory for relevant rules")
        );
        assert_eq!(md.body, text);
        assert_eq!(with_front_matter("recall", &out), None, "complete front matter is kept");
        let partial = with_front_matter("x", "---\nname: y\nmodel: opus\n---\nDo it.\n").unwrap();
        let md = Markdown::parse(&partial);
        assert_eq!(md.field("name").as_deref(), Some("y"));
        assert_eq!(md.field("model").as_deref(), Some("opus"));
        assert_eq!(md.field("description").as_deref(), Some("Do it."));
    }

    proptest::proptest! {
        /// Any text parses without a panic, and a file given front matter has both fields and
        /// keeps its body.
        #[test]
        fn any_text_parses_and_gains_complete_front_matter(
            text in "(---\n)?[a-z:# >-]{0,12}(\n[ a-z:#>-]{0,12}){0,6}(\n---\n)?.{0,40}",
        ) {
            let md = Markdown::parse(&text);
            proptest::prop_assert!(text.ends_with(md.body));
            if let Some(fixed) = with_front_matter("skill", &text) {
                let again = Markdown::parse(&fixed);
                proptest::prop_assert!(again.field("name").is_some());
                proptest::prop_assert!(again.field("description").is_some());
                proptest::prop_assert_eq!(again.body, md.body);
            }
            let _ = command_as_gemini_toml(&text);
        }
    }

    #[test]
    fn commands_become_skills_and_gemini_toml() {
        let cmd =
            "---\ndescription: Draft notes\nargument-hint: VERSION\n---\nSummarise $ARGUMENTS.\n";
        let skill = command_as_skill("notes", cmd);
        let md = Markdown::parse(&skill);
        assert_eq!(md.field("name").as_deref(), Some("notes"));
        assert_eq!(md.field("description").as_deref(), Some("Draft notes"));
        let toml: toml::Table = toml::from_str(&command_as_gemini_toml(cmd)).unwrap();
        assert_eq!(toml["description"].as_str(), Some("Draft notes"));
        assert_eq!(toml["prompt"].as_str(), Some("Summarise {{args}}."));
    }
}
