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

/// The city's stores that exist (rig `None`: the city's own).
pub type Stores = [(Option<String>, Box<dyn crate::beads::BeadStore>)];

/// One pass of the workflow sweep: opens the city's stores once, then checks their gates and
/// runs their ready control beads (nothing while the City is suspended). `github`: whether `gh`
/// can be run.
pub fn sweep_workflows(ctx: &Context, github: bool) {
    let Ok(model) = ctx.specs() else { return };
    if model.city_spec().suspended {
        return;
    }
    let stores = crate::work::stores::existing(&model, "workflow sweep");
    sweep(&stores, github);
    super::control_sweep::sweep(&stores, &model, &ctx.city_dir);
}

/// Checks the gates of `stores` once. Returns how many gates were opened.
pub fn sweep(stores: &Stores, github: bool) -> usize {
    let options = CheckOptions { escalate: true, skip_github: !github, ..CheckOptions::default() };
    let mut opened = 0;
    for (rig, store) in stores {
        match gates::check(&**store, options, ACTOR) {
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
