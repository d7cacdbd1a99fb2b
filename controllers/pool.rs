//! Which members of a pool run, and how many are wanted: from `scaleCheck` or from the work
//! waiting in the bead store. Pure.

use std::collections::BTreeSet;

use super::agent::PoolWant;
use crate::api::agent::ScalingSpec;
use crate::work::demand::Demand;

/// How many members `scaling` wants: `scaleCheck`'s answer when it has one (its failure counts
/// as `min`), else the agent's ready and in-progress beads; clamped to `min..=max`.
pub fn want(
    scaling: &ScalingSpec,
    check: Option<&Result<u32, String>>,
    work: Option<&Demand>,
) -> PoolWant {
    let clamp = |n: u32| super::scale_check::clamp(n, scaling.min, scaling.max);
    let (wanted, why) = match (&scaling.scale_check, check, work) {
        (Some(_), Some(Ok(n)), _) => (clamp(*n), format!("scaleCheck says {n}")),
        (Some(_), Some(Err(e)), _) => {
            (scaling.min, format!("scaleCheck failed ({e}); using min {}", scaling.min))
        }
        (Some(_), None, _) => {
            (scaling.min, format!("scaleCheck not run yet; using min {}", scaling.min))
        }
        (None, _, Some(work)) => {
            let total = work.total();
            let beads = if total == 1 { "bead" } else { "beads" };
            let wanted = clamp(u32::try_from(total).unwrap_or(u32::MAX));
            let bound = match wanted as usize {
                w if w > total => format!(", min {}", scaling.min),
                w if w < total => format!(", max {}", scaling.max),
                _ => String::new(),
            };
            (wanted, format!("{total} {beads} ready or in progress{bound}"))
        }
        (None, _, None) => {
            (scaling.min, format!("bead store not readable; using min {}", scaling.min))
        }
    };
    PoolWant { wanted, why }
}

/// The member indices (from 1) to run: every member holding in-progress work (never stopped
/// for scaling), then existing members, live ones and lowest indices first, then new members
/// at the lowest free indices, until `wanted` are chosen. `existing` is each observed member's
/// index and whether it is alive. Quarantined members are always listed (so their state
/// shows) and hold a slot of `max`: the others run in the slots left, so a broken command
/// cannot spread its crash loop over ever new members.
pub fn members(
    existing: &[(u32, bool)],
    busy: &BTreeSet<u32>,
    quarantined: &BTreeSet<u32>,
    wanted: u32,
    max: u32,
) -> Vec<u32> {
    let room = (wanted.min(max.saturating_sub(quarantined.len() as u32))) as usize;
    let mut chosen: BTreeSet<u32> =
        busy.iter().copied().filter(|i| *i > 0 && !quarantined.contains(i)).collect();
    let mut rest: Vec<(u32, bool)> =
        existing.iter().copied().filter(|(i, _)| *i > 0 && !quarantined.contains(i)).collect();
    rest.sort_by_key(|(index, alive)| (!alive, *index));
    for (index, _) in rest {
        if chosen.len() >= room {
            break;
        }
        chosen.insert(index);
    }
    let mut next = 1;
    while chosen.len() < room {
        if !quarantined.contains(&next) {
            chosen.insert(next);
        }
        next += 1;
    }
    chosen.extend(quarantined.iter().copied().filter(|i| *i > 0));
    chosen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaling(min: u32, max: u32, check: Option<&str>) -> ScalingSpec {
        ScalingSpec {
            min,
            max,
            scale_check: check.map(str::to_owned),
            scale_check_timeout: crate::api::Duration::from_secs(30),
        }
    }

    #[test]
    fn work_drives_the_count_within_bounds() {
        let work = |ready, busy: &[(&str, usize)]| Demand {
            ready,
            busy: busy.iter().map(|(a, n)| ((*a).to_owned(), *n)).collect(),
        };
        let s = scaling(0, 3, None);
        assert_eq!(want(&s, None, Some(&work(0, &[]))).wanted, 0);
        let w = want(&s, None, Some(&work(2, &[("worker-1", 1)])));
        assert_eq!((w.wanted, w.why.as_str()), (3, "3 beads ready or in progress"));
        let capped = want(&s, None, Some(&work(9, &[])));
        assert_eq!(
            (capped.wanted, capped.why.as_str()),
            (3, "9 beads ready or in progress, max 3")
        );
        let floor = want(&scaling(2, 3, None), None, Some(&work(0, &[])));
        assert_eq!((floor.wanted, floor.why.as_str()), (2, "0 beads ready or in progress, min 2"));
        assert_eq!(want(&s, None, None).wanted, 0);
    }

    #[test]
    fn a_scale_check_decides_when_set_and_its_failure_means_min() {
        let s = scaling(1, 4, Some("echo 9"));
        let busy = Demand { ready: 0, busy: Default::default() };
        assert_eq!(want(&s, Some(&Ok(9)), Some(&busy)).wanted, 4);
        assert_eq!(want(&s, Some(&Ok(2)), None).wanted, 2);
        let failed = want(&s, Some(&Err("exit status 1".into())), None);
        assert_eq!(failed.wanted, 1);
        assert!(failed.why.contains("scaleCheck failed (exit status 1)"), "{}", failed.why);
    }

    #[test]
    fn scale_down_keeps_busy_members_and_stops_idle_ones_first() {
        let none = BTreeSet::new();
        // Members 1..3 run; 3 holds work; one wanted: 3 stays (busy), 1 and 2 go.
        let running = [(1, true), (2, true), (3, true)];
        assert_eq!(members(&running, &BTreeSet::from([3]), &none, 1, 3), [3]);
        // Two wanted: the busy one and the lowest idle one.
        assert_eq!(members(&running, &BTreeSet::from([3]), &none, 2, 3), [1, 3]);
        // Busy members are never dropped, even past the wanted count.
        assert_eq!(members(&running, &BTreeSet::from([2, 3]), &none, 0, 3), [2, 3]);
        // A dead member keeps its slot only after live ones.
        assert_eq!(members(&[(1, false), (2, true)], &none, &none, 1, 3), [2]);
    }

    #[test]
    fn scale_up_fills_the_lowest_free_indices() {
        let none = BTreeSet::new();
        assert_eq!(members(&[], &none, &none, 3, 3), [1, 2, 3]);
        assert_eq!(members(&[(2, true)], &none, &none, 3, 3), [1, 2, 3]);
        assert_eq!(members(&[(5, true)], &none, &none, 2, 5), [1, 5]);
        // A member that died holding work comes back (its work is on its hook).
        assert_eq!(members(&[], &BTreeSet::from([4]), &none, 1, 3), [4]);
    }

    #[test]
    fn quarantined_members_are_listed_and_hold_their_slot_of_max() {
        let none = BTreeSet::new();
        let q1 = BTreeSet::from([1]);
        // Member 1 is quarantined: the one wanted member runs as 2, and 1 still shows.
        assert_eq!(members(&[(1, false)], &none, &q1, 1, 3), [1, 2]);
        // Three wanted, max 3, one slot quarantined: two others run.
        assert_eq!(members(&[(1, false)], &none, &q1, 3, 3), [1, 2, 3]);
        // Every slot quarantined: nothing new starts.
        let all = BTreeSet::from([1, 2]);
        assert_eq!(members(&[(1, false), (2, false)], &none, &all, 2, 2), [1, 2]);
    }
}
