//! The usage ledger (`.gc/state/usage.json`): per transcript file how far it was read, and the
//! tokens counted so far per hour, session and model. [`scan`] reads what every session's
//! transcripts gained since the last scan, under the ledger's lock, so the controller and
//! `gc costs` can both scan at any time without counting anything twice.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Usage;
use super::transcript::{self, Cursor};
use crate::controllers::launch::is_session_of;
use crate::controllers::model::CityModel;
use crate::store::{atomic, set_aside};

/// How long counts are kept.
const KEEP_DAYS: i64 = 90;
/// Counts older than this are kept by the day instead of the hour, so the ledger stays small.
const HOURLY_HOURS: i64 = 48;

/// Tokens counted for one hour, session and model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// The hour, UTC: `2026-12-06T05`.
    pub hour: String,
    /// The session.
    pub session: String,
    /// Its agent (as it was when counted).
    pub agent: String,
    /// The agent's rig, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rig: Option<String>,
    /// The Provider whose price table prices it.
    pub provider: String,
    /// The model.
    pub model: String,
    /// The tokens.
    #[serde(flatten)]
    pub usage: Usage,
    /// Whether it holds the whole day starting at `hour` (older counts are kept by the day).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub daily: bool,
}

/// One transcript file's reading position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileState {
    session: String,
    #[serde(flatten)]
    cursor: Cursor,
}

/// See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// Reading positions, by file path.
    #[serde(default)]
    files: BTreeMap<String, FileState>,
    /// What was counted, oldest hour first.
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

fn ledger_path(city_dir: &Path) -> PathBuf {
    city_dir.join(".gc/state/usage.json")
}

/// The ledger as last saved (empty when there is none, or it does not read: then the next
/// [`scan`] sets it aside and counts every transcript again from its start).
pub fn load(city_dir: &Path) -> Ledger {
    std::fs::read(ledger_path(city_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The ledger brought up to date for a reader (status, describe, the API): scanned when any
/// Provider counts usage, else what was saved; a scan that fails (a read-only city) falls
/// back to what was saved.
pub fn current(city_dir: &Path, model: &CityModel) -> Ledger {
    if !model.providers.values().any(|p| p.spec.usage.is_some()) {
        return load(city_dir);
    }
    scan(city_dir, model).unwrap_or_else(|e| {
        tracing::warn!("cannot read the agents' transcripts: {e}");
        load(city_dir)
    })
}

/// Reads what every session's transcripts gained since the last scan, adds it to the ledger,
/// saves it, and returns it. Sessions of agents whose Provider has no `usage` are skipped.
pub fn scan(city_dir: &Path, model: &CityModel) -> std::io::Result<Ledger> {
    let path = ledger_path(city_dir);
    std::fs::create_dir_all(path.parent().unwrap_or(city_dir))?;
    let _lock = atomic::lock_file(&path.with_extension("lock"))?;
    let mut ledger: Ledger =
        set_aside::read_json(&path, "usage ledger")?.found().unwrap_or_default();
    let before = ledger.clone();
    let homes = city_dir.join(".gc/homes");
    let sessions = std::fs::read_dir(&homes).into_iter().flatten().flatten();
    for entry in sessions {
        let session = entry.file_name().to_string_lossy().into_owned();
        let Some(source) = Source::of(model, &session) else { continue };
        for file in source.files(&entry.path()) {
            ledger.read_file(&file, &session, &source);
        }
    }
    ledger.files.retain(|file, _| Path::new(file).exists());
    ledger.prune();
    if ledger != before {
        atomic::write(&path, &serde_json::to_vec(&ledger)?)?;
    }
    Ok(ledger)
}

/// Whose a session's transcripts are, and how to read them.
struct Source {
    agent: String,
    rig: Option<String>,
    provider: String,
    spec: crate::api::provider::UsageSpec,
    files: regex::Regex,
}

impl Source {
    fn of(model: &CityModel, session: &str) -> Option<Source> {
        let city = model.city_name();
        let (agent, applied) =
            model.agents.iter().find(|(a, _)| is_session_of(&city, a, session))?;
        let provider =
            applied.spec.provider.clone().or_else(|| model.city_spec().default_provider)?;
        let spec = model.providers.get(&provider)?.spec.usage.clone()?;
        let files = glob_regex(&spec.files)?;
        Some(Source { agent: agent.clone(), rig: applied.spec.rig.clone(), provider, spec, files })
    }

    /// The transcript files below `home` (links are not followed: they lead to the user's
    /// own CLI state, not this session's).
    fn files(&self, home: &Path) -> Vec<PathBuf> {
        walkdir::WalkDir::new(home)
            .follow_links(false)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter(|e| {
                e.path()
                    .strip_prefix(home)
                    .is_ok_and(|rel| self.files.is_match(&rel.to_string_lossy()))
            })
            .map(|e| e.into_path())
            .collect()
    }
}

/// A regex matching what `glob` does: `*` within a path part, `**/` across parts, `?` one
/// character. `None` for a glob that leaves the directory (absolute, or with `..`).
pub fn glob_regex(glob: &str) -> Option<regex::Regex> {
    if glob.starts_with('/') || glob.split('/').any(|part| part == "..") {
        return None;
    }
    let mut pattern = String::from("^");
    let mut rest = glob;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**/") {
            pattern.push_str("(?:.*/)?");
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix("**") {
            pattern.push_str(".*");
            rest = after;
            continue;
        }
        match c {
            '*' => pattern.push_str("[^/]*"),
            '?' => pattern.push_str("[^/]"),
            other => pattern.push_str(&regex::escape(&other.to_string())),
        }
        rest = &rest[c.len_utf8()..];
    }
    pattern.push('$');
    regex::Regex::new(&pattern).ok()
}

impl Ledger {
    /// Only `agent`'s counts (for a report about one agent).
    pub fn of_agent(mut self, agent: &str) -> Ledger {
        self.buckets.retain(|b| b.agent == agent);
        self
    }

    /// Reads what `file` gained since its cursor and counts it for `session`.
    fn read_file(&mut self, file: &Path, session: &str, source: &Source) {
        let Ok(meta) = std::fs::metadata(file) else { return };
        let key = file.to_string_lossy().into_owned();
        let state = self.files.entry(key).or_default();
        // Another file under the name, or one cut short: read it from its start.
        if state.cursor.inode != meta.ino() || meta.len() < state.cursor.offset {
            state.cursor = Cursor { inode: meta.ino(), ..Cursor::default() };
        }
        state.session = session.to_owned();
        if meta.len() == state.cursor.offset {
            return;
        }
        let mut appended = Vec::new();
        let read = std::fs::File::open(file).and_then(|mut f| {
            f.seek(SeekFrom::Start(state.cursor.offset))?;
            f.take(meta.len() - state.cursor.offset).read_to_end(&mut appended)
        });
        if read.is_err() {
            return;
        }
        let counted = transcript::read(source.spec.format, &appended, &mut state.cursor);
        for item in counted {
            self.count(session, source, &item);
        }
    }

    fn count(&mut self, session: &str, source: &Source, item: &transcript::Counted) {
        let hour = chrono::DateTime::parse_from_rfc3339(&item.at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now())
            .format("%Y-%m-%dT%H")
            .to_string();
        // Buckets are in hour order and counts arrive mostly for the latest hours.
        let found =
            self.buckets.iter_mut().rev().take_while(|b| b.hour >= hour).find(|b| {
                b.hour == hour && !b.daily && b.session == session && b.model == item.model
            });
        match found {
            Some(bucket) => bucket.usage.add(&item.usage),
            None => {
                self.buckets.push(Bucket {
                    hour,
                    session: session.to_owned(),
                    agent: source.agent.clone(),
                    rig: source.rig.clone(),
                    provider: source.provider.clone(),
                    model: item.model.clone(),
                    usage: item.usage.clone(),
                    daily: false,
                });
                let n = self.buckets.len();
                if n > 1 && self.buckets[n - 2].hour > self.buckets[n - 1].hour {
                    self.buckets.sort_by(|a, b| a.hour.cmp(&b.hour));
                }
            }
        }
    }

    /// Forgets counts older than [`KEEP_DAYS`], and folds hours older than [`HOURLY_HOURS`]
    /// into days.
    fn prune(&mut self) {
        let now = chrono::Utc::now();
        let hour = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H").to_string();
        let oldest = hour(now - chrono::Duration::days(KEEP_DAYS));
        let hourly_from = hour(now - chrono::Duration::hours(HOURLY_HOURS));
        self.buckets.retain(|b| b.hour >= oldest);
        if !self.buckets.iter().any(|b| !b.daily && b.hour < hourly_from) {
            return;
        }
        let mut kept: Vec<Bucket> = Vec::with_capacity(self.buckets.len());
        let mut days: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for mut bucket in std::mem::take(&mut self.buckets) {
            if !bucket.daily && bucket.hour < hourly_from {
                bucket.hour = format!("{}T00", bucket.hour.get(..10).unwrap_or(&bucket.hour));
                bucket.daily = true;
            }
            if !bucket.daily {
                kept.push(bucket);
                continue;
            }
            let key = (bucket.hour.clone(), bucket.session.clone(), bucket.model.clone());
            match days.get(&key) {
                Some(&at) => kept[at].usage.add(&bucket.usage),
                None => {
                    days.insert(key, kept.len());
                    kept.push(bucket);
                }
            }
        }
        kept.sort_by(|a, b| a.hour.cmp(&b.hour));
        self.buckets = kept;
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
