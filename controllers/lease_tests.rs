use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::beads::embedded::EmbeddedStore;
use crate::beads::{BeadStore, ListQuery, NewBead, ReadyQuery};

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn held(id: &str, holder: &str, attempts: u32) -> Held {
    Held {
        id: id.into(),
        title: format!("work {id}"),
        holder: holder.into(),
        agent: "w".into(),
        session: format!("gc-c-{holder}"),
        attempts,
        routed: true,
        taken_from: Vec::new(),
    }
}

const POLICY: Policy = Policy { grace: Some(Duration::from_secs(60)), max_attempts: 3 };

fn running(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn a_holder_back_within_the_grace_keeps_its_bead() {
    let beads = [held("gc-1", "w-1", 0)];
    let mut absences = Absences::default();
    absences.observe(["gc-c-w-1"], &running(&[]), &BTreeMap::new(), t(0));
    assert!(plan(&beads, &absences, POLICY, t(59)).is_empty(), "still within the grace");
    // It came back (a crash restart): the grace starts over when it next goes missing.
    absences.observe(["gc-c-w-1"], &running(&["gc-c-w-1"]), &BTreeMap::new(), t(59));
    absences.observe(["gc-c-w-1"], &running(&[]), &BTreeMap::new(), t(61));
    assert!(plan(&beads, &absences, POLICY, t(120)).is_empty());
    assert_eq!(plan(&beads, &absences, POLICY, t(121)).len(), 1);
}

#[test]
fn a_holder_gone_past_the_grace_loses_its_bead_as_one_more_attempt() {
    let beads = [held("gc-1", "w-1", 0), held("gc-2", "w-2", 0)];
    let mut absences = Absences::default();
    absences.observe(["gc-c-w-1", "gc-c-w-2"], &running(&["gc-c-w-2"]), &BTreeMap::new(), t(0));
    let actions = plan(&beads, &absences, POLICY, t(60));
    assert_eq!(
        actions,
        [LeaseAction::Reclaim {
            bead: beads[0].clone(),
            attempt: 1,
            absent_for: Duration::from_secs(60)
        }]
    );
    let change = actions[0].change();
    assert_eq!(change.status.as_deref(), Some("open"));
    assert_eq!(change.assignee.as_deref(), Some(""));
    assert_eq!(change.set_metadata[ATTEMPTS], 1);
    assert_eq!(change.set_metadata[TAKEN_FROM], serde_json::json!(["w-1"]));
    assert!(!change.set_metadata.contains_key(crate::work::ROUTED_TO), "already routed");
}

#[test]
fn work_claimed_without_a_route_is_routed_back_to_the_holders_agent() {
    let bead = Held { routed: false, ..held("gc-1", "w-3", 0) };
    let action = LeaseAction::Reclaim { bead, attempt: 1, absent_for: Duration::ZERO };
    assert_eq!(action.change().set_metadata[crate::work::ROUTED_TO], "w");
}

#[test]
fn the_attempt_that_reaches_max_attempts_parks_the_bead() {
    let beads = [held("gc-1", "w-1", 2)];
    let mut absences = Absences::default();
    absences.observe(["gc-c-w-1"], &running(&[]), &BTreeMap::new(), t(0));
    let actions = plan(&beads, &absences, POLICY, t(90));
    assert!(matches!(&actions[..], [LeaseAction::Park { attempts: 3, .. }]), "{actions:?}");
    let change = actions[0].change();
    assert_eq!(change.status.as_deref(), Some("blocked"));
    let reason = change.set_metadata[PARKED].as_str().unwrap().to_owned();
    assert!(reason.contains("3 times") && reason.contains("w-1"), "{reason}");
    // maxAttempts 0 never parks.
    let never = Policy { max_attempts: 0, ..POLICY };
    assert!(matches!(&plan(&beads, &absences, never, t(90))[..], [LeaseAction::Reclaim { .. }]));
}

#[test]
fn a_zero_grace_never_takes_work_back() {
    let city = crate::api::city::LeaseSpec {
        grace: crate::api::Duration::from_secs(0),
        ..Default::default()
    };
    let policy = Policy::of(&city, None);
    assert_eq!(policy.grace, None);
    let mut absences = Absences::default();
    absences.observe(["gc-c-w-1"], &running(&[]), &BTreeMap::new(), t(0));
    assert!(plan(&[held("gc-1", "w-1", 0)], &absences, policy, t(100_000)).is_empty());
}

#[test]
fn a_rig_overrides_the_city_one_setting_at_a_time() {
    let city = crate::api::city::LeaseSpec::default();
    let rig = crate::api::rig::RigLeaseSpec { grace: None, max_attempts: Some(5) };
    let policy = Policy::of(&city, Some(&rig));
    assert_eq!(policy, Policy { grace: Some(Duration::from_secs(600)), max_attempts: 5 });
    assert_eq!(Policy::of(&city, None).max_attempts, 3);
}

// --- The lease state machine, against the real embedded store ---------------------------------

/// What the simulated city does next.
#[derive(Clone, Debug)]
enum Step {
    /// Member `n` (1..=3), if running, claims the first ready bead.
    Claim(usize),
    /// Member `n`, if running, closes the first bead it believes it holds.
    Close(usize),
    /// Member `n`'s session dies.
    Die(usize),
    /// Member `n`'s session (re)starts; it remembers what it held (a resumed conversation).
    Start(usize),
    /// Time passes.
    Wait(u64),
    /// The controller sweeps.
    Sweep,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1..=3usize).prop_map(Step::Claim),
        2 => (1..=3usize).prop_map(Step::Close),
        2 => (1..=3usize).prop_map(Step::Die),
        2 => (1..=3usize).prop_map(Step::Start),
        3 => (1..40u64).prop_map(Step::Wait),
        3 => Just(Step::Sweep),
    ]
}

/// The simulated city: three pool members of agent `w`, four beads routed to it.
struct Sim {
    _dir: tempfile::TempDir,
    store: EmbeddedStore,
    now: SystemTime,
    alive: BTreeSet<usize>,
    /// When each dead member died.
    died_at: BTreeMap<usize, SystemTime>,
    /// When the controller last knew each member's session running (it starts them).
    last_running: BTreeMap<String, SystemTime>,
    /// What each member believes it holds (it claimed it and has not closed it).
    believes: BTreeMap<usize, BTreeSet<String>>,
    absences: Absences,
    closed: BTreeMap<String, String>,
    parked: BTreeMap<String, usize>,
}

fn member(n: usize) -> String {
    format!("w-{n}")
}

fn session(n: usize) -> String {
    format!("gc-c-w-{n}")
}

impl Sim {
    fn new() -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        for i in 0..4 {
            let mut metadata = serde_json::Map::new();
            metadata.insert(crate::work::ROUTED_TO.into(), "w".into());
            store
                .create(NewBead { title: format!("b{i}"), metadata, ..NewBead::default() }, "m")
                .unwrap();
        }
        Sim {
            _dir: dir,
            store,
            now: t(0),
            alive: (1..=3).collect(),
            died_at: BTreeMap::new(),
            believes: BTreeMap::new(),
            last_running: BTreeMap::new(),
            absences: Absences::default(),
            closed: BTreeMap::new(),
            parked: BTreeMap::new(),
        }
    }

    fn all(&self) -> Vec<crate::beads::Bead> {
        self.store.list(&ListQuery { all: true, ..ListQuery::default() }).unwrap()
    }

    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match *step {
            Step::Claim(n) if self.alive.contains(&n) => {
                if let Some(bead) =
                    self.store.claim_ready(&ReadyQuery::default(), &member(n)).unwrap()
                {
                    self.believes.entry(n).or_default().insert(bead.id);
                }
            }
            Step::Close(n) if self.alive.contains(&n) => {
                let Some(id) = self.believes.get(&n).and_then(|b| b.first().cloned()) else {
                    return Ok(());
                };
                let before = self.store.get(&id).unwrap();
                let rules = crate::work::proof::Rules::default();
                let nothing = crate::work::proof::Offered::Nothing;
                let result =
                    crate::work::close(&self.store, &id, None, &member(n), &rules, nothing);
                self.believes.get_mut(&n).unwrap().remove(&id);
                if result.is_ok() && !before.is_closed() {
                    // No bead held by two: a close lands only from the one holding it.
                    prop_assert_eq!(&before.assignee, &member(n), "{} closed by a non-holder", id);
                    prop_assert_eq!(&before.status, "in_progress");
                    self.closed.insert(id, member(n));
                }
            }
            Step::Die(n) => {
                if self.alive.remove(&n) {
                    self.died_at.insert(n, self.now);
                    // The controller sees the exit (it watches each session's program).
                    self.last_running.insert(session(n), self.now);
                }
            }
            Step::Start(n) => {
                self.alive.insert(n);
                self.last_running.insert(session(n), self.now);
                self.died_at.remove(&n);
            }
            Step::Wait(secs) => self.now += Duration::from_secs(secs),
            Step::Sweep => self.sweep()?,
            Step::Claim(_) | Step::Close(_) => {}
        }
        self.check()
    }

    fn sweep(&mut self) -> Result<(), TestCaseError> {
        let in_progress =
            ListQuery { statuses: vec!["in_progress".into()], ..ListQuery::default() };
        let held: Vec<Held> = self
            .store
            .list(&in_progress)
            .unwrap()
            .into_iter()
            .map(|b| {
                let session = format!("gc-c-{}", b.assignee);
                Held::new(b, "w", session)
            })
            .collect();
        let running: BTreeSet<String> = self.alive.iter().map(|n| session(*n)).collect();
        let holders = held.iter().map(|h| h.session.as_str());
        self.absences.observe(holders, &running, &self.last_running, self.now);
        for action in plan(&held, &self.absences, POLICY, self.now) {
            let bead = action.bead();
            let n: usize = bead.holder.trim_start_matches("w-").parse().unwrap();
            // Only from a holder that really is gone, and gone for the whole grace.
            prop_assert!(
                !self.alive.contains(&n),
                "{} taken from running {}",
                bead.id,
                bead.holder
            );
            let gone = self.now.duration_since(self.died_at[&n]).unwrap();
            prop_assert!(gone >= POLICY.grace.unwrap(), "{} taken after {gone:?}", bead.id);
            let done =
                self.store.update_if_held(&bead.id, &bead.holder, &action.change(), "gc").unwrap();
            prop_assert!(done.is_some(), "nothing else acts between the listing and the change");
            if let LeaseAction::Park { .. } = action {
                *self.parked.entry(bead.id.clone()).or_default() += 1;
            }
        }
        // Nothing stays stuck: every bead still in progress has a holder within its grace.
        for bead in self.store.list(&in_progress).unwrap() {
            let absent = self.absences.absent_for(&format!("gc-c-{}", bead.assignee), self.now);
            prop_assert!(absent.is_none_or(|a| a < POLICY.grace.unwrap()), "{} stuck", bead.id);
        }
        Ok(())
    }

    /// What holds after every step.
    fn check(&self) -> Result<(), TestCaseError> {
        let beads = self.all();
        prop_assert_eq!(beads.len(), 4, "no bead lost");
        for bead in &beads {
            match bead.status.as_str() {
                "open" => prop_assert!(bead.assignee.is_empty()),
                "in_progress" => prop_assert!(bead.assignee.starts_with("w-")),
                "blocked" => {
                    prop_assert!(bead.metadata.contains_key(PARKED));
                    prop_assert_eq!(
                        self.parked.get(&bead.id),
                        Some(&1),
                        "parked and escalated once"
                    );
                }
                "closed" => prop_assert!(self.closed.contains_key(&bead.id), "closed by a holder"),
                other => prop_assert!(false, "unexpected status {}", other),
            }
            prop_assert!(attempts_of(&bead.metadata) <= POLICY.max_attempts);
        }
        for id in self.closed.keys() {
            prop_assert!(beads.iter().any(|b| &b.id == id && b.is_closed()), "{} reopened", id);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// No bead is ever held by two members, none is lost or stuck, none is taken from a
    /// holder within its grace, and each is parked (and escalated) at most once.
    #[test]
    fn leases_never_lose_or_double_hold_work(steps in prop::collection::vec(step(), 1..80)) {
        let mut sim = Sim::new();
        for step in &steps {
            sim.run(step)?;
        }
    }
}
