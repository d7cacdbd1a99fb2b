//! The gate sweep: checks the open gates of every bead store of the city (see
//! [`crate::work::gates`]) and opens those whose condition holds, so a formula's timer, mail and
//! bead gates release their steps with nobody running `bd gate check`. GitHub gates are checked
//! too when the `gh` CLI is installed. Gates that will not open by themselves (a failed run, a
//! closed pull request) are handed to a person once (label `human`).

use std::time::Duration;

use super::reconcile::Context;
use crate::work::gates::{self, CheckOptions, Verdict};

/// Who closes and escalates the gates.
pub const ACTOR: &str = "gc-controller";

/// How often the gates are checked.
pub const EVERY: Duration = Duration::from_secs(2);

/// Checks every store's gates once; `github`: whether `gh` can be run. Returns how many gates
/// were opened.
pub fn sweep(ctx: &Context, github: bool) -> usize {
    let Ok(model) = ctx.specs() else { return 0 };
    if model.city_spec().suspended {
        return 0;
    }
    let options = CheckOptions { escalate: true, skip_github: !github, ..CheckOptions::default() };
    let mut opened = 0;
    for (rig, store) in crate::work::stores::existing(&model, "gate sweep") {
        match gates::check(&*store, options, ACTOR) {
            Ok(checked) => {
                for done in checked {
                    match done.verdict {
                        Verdict::Resolved(why) => {
                            opened += 1;
                            tracing::info!("gate {} opened: {why}", done.gate.id);
                        }
                        Verdict::Error(why) => {
                            tracing::debug!("gate {} cannot be checked: {why}", done.gate.id);
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => tracing::warn!("gate sweep of {}: {e}", rig.as_deref().unwrap_or("the city")),
        }
    }
    opened
}
