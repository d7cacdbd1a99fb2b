//! Waiting for the city to converge: every agent's status reports its current generation and
//! a settled phase. Shared by `gc start` and `gc apply --wait`.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::api::status::{AgentStatus, ConditionType, condition};

use crate::api::Kind;
use crate::store::Store;

/// Phases in which an agent has nothing more to do (a quarantined agent waits for a person
/// or its quarantine's end, an idle one for work).
const SETTLED: &[&str] = &["Running", "Stopped", "Idle", "Quarantined"];

/// Why an agent can be `Blocked` such that only a person can unblock it (waiting longer changes
/// nothing): a session at a screen gc cannot answer, a CLI not installed, a rig path missing or
/// not a git repository. A rig store being initialised is not among them: it passes.
const NEEDS_A_PERSON: &[&str] =
    &["SessionBlocked", "CommandNotFound", "RigPathMissing", "RigNotGitRepo"];

/// The agents not yet converged, as `name (phase)`. An agent has converged when its status
/// was recorded from the current generations of everything it derives from (`observedInputs`:
/// the agent, the City, its provider and rig) and its phase is settled.
pub fn pending(city_dir: &Path, store: &Store) -> Result<Vec<String>, crate::store::StoreError> {
    let model = crate::controllers::model::CityModel::load_specs(city_dir, store)?;
    let mut out = Vec::new();
    for name in model.agents.keys() {
        // An unreadable status is not converged: the controller rewrites it.
        let status: Option<AgentStatus> = store.status(Kind::Agent, name).ok().flatten();
        let phase = status.as_ref().map_or("Pending", |s| s.phase.as_str());
        let current = status.as_ref().and_then(|s| s.observed_inputs.as_deref())
            == Some(model.inputs_of(name).as_str());
        let reason = status
            .as_ref()
            .and_then(|s| condition(&s.conditions, ConditionType::Ready))
            .map_or("", |c| c.reason.as_str());
        let needs_a_person = phase == "Blocked" && NEEDS_A_PERSON.contains(&reason);
        if !current || !(SETTLED.contains(&phase) || needs_a_person) {
            out.push(format!("{name} ({phase})"));
        }
    }
    Ok(out)
}

/// Waits until every agent converged or `timeout` passes, showing what is still pending.
/// Returns whether it converged.
pub fn until_converged(
    city_dir: &Path,
    timeout: Duration,
) -> Result<bool, crate::store::StoreError> {
    let store = Store::new(city_dir);
    let deadline = Instant::now() + timeout;
    let tty = std::io::stderr().is_terminal();
    let mut last = String::new();
    loop {
        let waiting = pending(city_dir, &store)?;
        if waiting.is_empty() {
            if tty {
                eprint!("\r\x1b[K");
            }
            return Ok(true);
        }
        let line = format!("waiting for {}", waiting.join(", "));
        if line != last {
            if tty {
                eprint!("\r\x1b[K{line}");
            } else {
                eprintln!("{line}");
            }
            last = line;
        }
        if Instant::now() >= deadline {
            if tty {
                eprintln!();
            }
            eprintln!("gc: not converged after {}s: {}", timeout.as_secs(), waiting.join(", "));
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
