//! No input makes the loader or validator panic: mutated sample-city files and arbitrary text,
//! in YAML and TOML, all come back as findings.

use std::path::Path;
use std::sync::Arc;

use gascity::manifest::{Format, SourceFile};
use gascity::validate::validate_sources;
use proptest::prelude::*;

/// Every file of the sample city, as (name, text, format).
fn sample_files() -> Vec<(String, String, Format)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/sample-city");
    let mut files = Vec::new();
    for entry in walkdir(&root) {
        if let Some(format) = Format::from_path(&entry) {
            let text = std::fs::read_to_string(&entry).unwrap();
            files.push((entry.display().to_string(), text, format));
        }
    }
    assert!(files.len() >= 9, "the sample city should have at least 9 resource files");
    files
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walkdir(&path)) } else { out.push(path) }
    }
    out.sort();
    out
}

/// Fragments that are meaningful to the parsers, so mutations reach deep code paths.
const TOKENS: &[&str] = &[
    ":",
    "- ",
    "---\n",
    "\n",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "? ",
    "|\n",
    ">-\n",
    "=",
    "[[",
    "]]",
    "[spec]\n",
    "\"\"\"",
    "é",
    "日本",
    "\u{feff}",
    "0x",
    "1e9",
    "~",
    "null",
    "true",
    "apiVersion: gascity.dev/v1alpha1\n",
    "kind: Agent\n",
    "kind = \"Rig\"\n",
    "metadata:\n  name: x\n",
    "spec:\n",
    "needs: [a]\n",
    "dependsOn: [mayor]\n",
    "{{ agent.name }",
    "schedule: \"* * *\"\n",
    "inf",
    ".nan",
    "-",
    "\\",
    "\r\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Truncate { at: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut s = text.to_owned();
    match *m {
        Mutation::Delete { at, len } => {
            let start = boundary(&s, at);
            let end = boundary(&s, (start + len).min(s.len()));
            s.replace_range(start..end.max(start), "");
        }
        Mutation::Insert { at, token } => {
            let at = boundary(&s, at);
            s.insert_str(at, TOKENS[token]);
        }
        Mutation::Truncate { at } => s.truncate(boundary(&s, at)),
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
            if !lines.is_empty() {
                let i = line % lines.len();
                lines.insert(i, lines[i]);
            }
            s = lines.concat();
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
            if !lines.is_empty() {
                let n = lines.len();
                lines.swap(a % n, b % n);
            }
            s = lines.concat();
        }
    }
    s
}

fn validate_all(files: Vec<(String, String, Format)>) {
    let sources = files
        .into_iter()
        .map(|(name, text, f)| (Arc::new(SourceFile::new(name, text)), f))
        .collect();
    let validation =
        validate_sources(sources, Vec::new(), None, Path::new(env!("CARGO_MANIFEST_DIR")), true);
    // Every located finding must point inside its file, or rendering would mis-place carets.
    for d in &validation.diagnostics {
        if let Some((file, span)) = &d.location {
            assert!(span.start <= span.end && span.end <= file.text.len(), "{d:?}");
        }
    }
    for format in [
        gascity::validate::render::OutputFormat::Human,
        gascity::validate::render::OutputFormat::Json,
        gascity::validate::render::OutputFormat::Github,
    ] {
        let _ = gascity::validate::render::render(&validation, format, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mutated_sample_files_never_panic(
        file in 0usize..64,
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut files = sample_files();
        let i = file % files.len();
        for m in &mutations {
            files[i].1 = apply(&files[i].1, m);
        }
        validate_all(files);
    }

    #[test]
    fn arbitrary_text_never_panics_as_yaml_or_toml(text in "\\PC{0,200}") {
        validate_all(vec![
            ("a.yaml".into(), text.clone(), Format::Yaml),
            ("a.toml".into(), text.clone(), Format::Toml),
            ("sniffed".into(), text.clone(), Format::sniff(&text)),
        ]);
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(0..TOKENS.len(), 0..40)) {
        let text: String = tokens.iter().map(|&t| TOKENS[t]).collect();
        validate_all(vec![
            ("soup.yaml".into(), text.clone(), Format::Yaml),
            ("soup.toml".into(), text, Format::Toml),
        ]);
    }
}
