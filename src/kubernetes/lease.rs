//! Leader election through a `coordination.k8s.io/v1` Lease: one replica of the in-cluster
//! controller is active, the others follow and take over when the leader stops renewing.
//!
//! Split like every gc controller: [`plan`] is the pure decision (the Lease as last read, who we
//! are, "now" → create, renew, take over or follow, and the spec to write), and
//! [`LeaseElector`] performs it against the API server with optimistic concurrency: a write
//! carries the `resourceVersion` it read, so when two replicas race, the API server lets exactly
//! one win and answers the other `409 Conflict`.
//!
//! Expiry is judged from the Lease's own `renewTime` and `leaseDurationSeconds`, so replicas'
//! clocks must agree to well within the gap between the lease duration and the renew deadline
//! (5 s with the defaults), as they do on a cluster whose nodes keep time.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

/// Where "now" comes from. Production uses [`SystemClock`]; tests pass a clock they move by
/// hand, so a lease can expire without anyone sleeping.
pub trait Clock: Send + Sync {
    /// The current wall-clock time, as written into a Lease's `renewTime`.
    fn now(&self) -> Timestamp;
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// How long a lease lasts and how often it is renewed.
///
/// The invariants checked by [`LeaseTiming::validate`] are what keep two replicas from both
/// believing they lead: a leader gives up after `renew_deadline` without a renewal, which is
/// before anyone else may take the lease over (`lease_duration`), and it retries several times
/// within that deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a lease stays valid after its last renewal; written as `leaseDurationSeconds`
    /// (whole seconds, rounded up). Followers wait this long after the holder's last renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal before it steps down.
    /// Must be shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// Time between two attempts to acquire or renew. Must be shorter than `renew_deadline`.
    pub retry_period: Duration,
}

impl Default for LeaseTiming {
    /// 15 s lease, 10 s renew deadline, 2 s retry: the values Kubernetes' own controllers use.
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaseTiming {
    /// Checks `0 < retry_period < renew_deadline < lease_duration`, the ordering that keeps
    /// leadership exclusive.
    pub fn validate(&self) -> Result<(), LeaseError> {
        if self.retry_period.is_zero()
            || self.retry_period >= self.renew_deadline
            || self.renew_deadline >= self.lease_duration
        {
            return Err(LeaseError::InvalidTiming(*self));
        }
        Ok(())
    }
}

/// What a replica should do with the Lease as it read it: the planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// There is no Lease yet: create it with this spec (we hold it).
    Create(LeaseSpec),
    /// We hold the Lease: write this spec (a later `renewTime`) to keep it.
    Renew(LeaseSpec),
    /// The Lease has no holder, or its holder's lease ran out: write this spec to become the
    /// holder.
    TakeOver {
        /// The spec to write: us as holder, `acquireTime` now, `leaseTransitions` + 1.
        spec: LeaseSpec,
        /// Who held it before, if anyone (for logs and events).
        previous_holder: Option<String>,
    },
    /// Someone else holds a live lease: write nothing and look again later.
    Follow {
        /// The current holder's identity.
        holder: String,
        /// When the holder's lease runs out unless it renews first.
        until: Timestamp,
    },
}

/// Decides what `identity` should do with `observed` (the Lease as last read, `None` when it
/// does not exist) at time `now`, and the spec to write if anything.
///
/// A holder's lease runs until its `renewTime` plus its own `leaseDurationSeconds` (ours when
/// the field is missing or not positive). A Lease with a holder but no `renewTime` counts as
/// expired, as does one with an empty holder (how a replica hands the lease back). Fields gc
/// does not manage (`preferredHolder`, `strategy`) are kept as read.
pub fn plan(
    observed: Option<&Lease>,
    identity: &str,
    lease_duration: Duration,
    now: Timestamp,
) -> Decision {
    let duration_secs = duration_seconds(lease_duration);
    let Some(lease) = observed else {
        return Decision::Create(LeaseSpec {
            holder_identity: Some(identity.to_owned()),
            lease_duration_seconds: Some(duration_secs),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        });
    };
    let current = lease.spec.clone().unwrap_or_default();
    let holder = current.holder_identity.clone().filter(|h| !h.is_empty());

    if holder.as_deref() == Some(identity) {
        return Decision::Renew(LeaseSpec {
            lease_duration_seconds: Some(duration_secs),
            renew_time: Some(MicroTime(now)),
            // A lease we hold but whose acquireTime someone cleared: we have held it at least
            // since now.
            acquire_time: current.acquire_time.clone().or(Some(MicroTime(now))),
            ..current
        });
    }

    if let Some(holder) = &holder
        && let Some(until) = expires_at(&current, lease_duration)
        && now < until
    {
        return Decision::Follow { holder: holder.clone(), until };
    }

    let transitions = current.lease_transitions.unwrap_or(0).max(0);
    Decision::TakeOver {
        spec: LeaseSpec {
            holder_identity: Some(identity.to_owned()),
            lease_duration_seconds: Some(duration_secs),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions.saturating_add(1)),
            ..current
        },
        previous_holder: holder,
    }
}

/// When the holder's lease runs out: `renewTime + leaseDurationSeconds`, or `None` when it was
/// never renewed. A sum past the end of time saturates rather than failing: such a lease simply
/// never expires by the clock, and its holder can still hand it back.
fn expires_at(spec: &LeaseSpec, fallback: Duration) -> Option<Timestamp> {
    let renewed = spec.renew_time.as_ref()?.0;
    let secs = match spec.lease_duration_seconds {
        Some(secs) if secs > 0 => i64::from(secs),
        _ => i64::from(duration_seconds(fallback)),
    };
    Some(renewed.checked_add(SignedDuration::from_secs(secs)).unwrap_or(Timestamp::MAX))
}

/// A duration as the Lease's whole `leaseDurationSeconds`, rounded up so a lease never claims
/// less time than configured, at least 1 and at most `i32::MAX`.
fn duration_seconds(duration: Duration) -> i32 {
    let secs = duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0));
    i32::try_from(secs).unwrap_or(i32::MAX).max(1)
}

/// The outcome of one attempt to acquire or renew the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStatus {
    /// We hold the lease: it was created, renewed or taken over by this attempt.
    Leader,
    /// Someone else holds a live lease; nothing was written.
    Follower {
        /// The holder's identity.
        holder: String,
        /// When its lease runs out unless it renews first.
        until: Timestamp,
    },
    /// Another writer changed the Lease between our read and our write (`409 Conflict`), so
    /// the API server refused ours. Not an error: the next attempt reads the winner. This
    /// attempt does not retry, so racing replicas do not hammer the API server.
    LostRace,
}

impl LeaseStatus {
    /// Whether this attempt left us holding the lease.
    pub fn is_leader(&self) -> bool {
        matches!(self, LeaseStatus::Leader)
    }
}

/// Why an attempt to acquire, renew or release the lease failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The timing does not keep leadership exclusive; see [`LeaseTiming::validate`].
    #[error(
        "lease timing must satisfy 0 < retry period < renew deadline < lease duration, got {0:?}"
    )]
    InvalidTiming(LeaseTiming),
    /// The replica was given an empty identity, which would read as "no holder".
    #[error("the leader-election identity must not be empty")]
    EmptyIdentity,
    /// Reading the Lease failed (API server unreachable, forbidden, or an answer that is not a
    /// Lease). The attempt is abandoned; the next one reads again.
    #[error("could not read lease {name}")]
    Read {
        /// The Lease's name.
        name: String,
        /// What the client reported.
        #[source]
        source: kube::Error,
    },
    /// Writing the Lease failed for a reason other than losing a race.
    #[error("could not write lease {name}")]
    Write {
        /// The Lease's name.
        name: String,
        /// What the client reported.
        #[source]
        source: kube::Error,
    },
    /// The API server answered with a Lease that has no `resourceVersion`, so it cannot be
    /// replaced safely (the write would overwrite whatever is there). A malformed answer.
    #[error("lease {name} as read has no resourceVersion; refusing an unconditional write")]
    MissingResourceVersion {
        /// The Lease's name.
        name: String,
    },
    /// The API server did not answer within the time left before the renew deadline.
    #[error("lease {name}: no answer from the API server within {after:?}")]
    TimedOut {
        /// The Lease's name.
        name: String,
        /// How long the attempt was given.
        after: Duration,
    },
}

/// Competes for one Lease on behalf of one replica, and publishes whether it leads.
///
/// Call [`LeaseElector::run`] for the usual loop, or [`LeaseElector::step`] to drive it by
/// hand (tests do, with a [`Clock`] they move). Watch [`LeaseElector::subscribe`] to start and
/// stop the work only the leader may do.
///
/// **Warning:** `is_leader` turning `false` is the only signal that leadership is gone. Work
/// started as leader must stop when it does, or two replicas act at once.
pub struct LeaseElector<C = SystemClock> {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    clock: C,
    /// When we last wrote the lease as its holder; `None` while we do not lead.
    renewed_at: Option<Timestamp>,
    is_leader: watch::Sender<bool>,
}

impl<C: Clock> LeaseElector<C> {
    /// An elector for the Lease `name` in `api`'s namespace, competing as `identity` (the pod
    /// name is the usual choice: unique among replicas and readable in `kubectl get lease`).
    pub fn new(
        api: Api<Lease>,
        name: impl Into<String>,
        identity: impl Into<String>,
        timing: LeaseTiming,
        clock: C,
    ) -> Result<Self, LeaseError> {
        timing.validate()?;
        let identity = identity.into();
        if identity.is_empty() {
            return Err(LeaseError::EmptyIdentity);
        }
        let (is_leader, _) = watch::channel(false);
        Ok(Self { api, name: name.into(), identity, timing, clock, renewed_at: None, is_leader })
    }

    /// A receiver of `is_leader`: `false` at first, `true` while this replica leads. Changes
    /// are published only when the value changes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.is_leader.subscribe()
    }

    /// Whether this replica currently leads, as last published.
    pub fn is_leader(&self) -> bool {
        *self.is_leader.borrow()
    }

    /// This replica's identity, as written into `holderIdentity`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The timing this elector runs with.
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// One attempt: read the Lease, [`plan`], and write what the plan says. Publishes nothing
    /// and keeps no state; [`LeaseElector::step`] does that.
    pub async fn try_acquire_or_renew(&self) -> Result<LeaseStatus, LeaseError> {
        self.attempt(self.clock.now()).await
    }

    async fn attempt(&self, now: Timestamp) -> Result<LeaseStatus, LeaseError> {
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|source| LeaseError::Read { name: self.name.clone(), source })?;
        let spec = match plan(current.as_ref(), &self.identity, self.timing.lease_duration, now) {
            Decision::Follow { holder, until } => {
                return Ok(LeaseStatus::Follower { holder, until });
            }
            Decision::Create(spec) => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                    spec: Some(spec),
                };
                let created = self.api.create(&PostParams::default(), &lease).await;
                return self.written(created);
            }
            Decision::Renew(spec) | Decision::TakeOver { spec, .. } => spec,
        };
        // Renew and take-over are only planned for a Lease that was read.
        let mut lease = current.unwrap_or_default();
        if lease.metadata.resource_version.is_none() {
            return Err(LeaseError::MissingResourceVersion { name: self.name.clone() });
        }
        lease.spec = Some(spec);
        let replaced = self.api.replace(&self.name, &PostParams::default(), &lease).await;
        self.written(replaced)
    }

    /// Maps a write's answer: success leads, a 409 (a newer `resourceVersion`, or a create
    /// that found the Lease already there) lost the race.
    fn written(&self, result: Result<Lease, kube::Error>) -> Result<LeaseStatus, LeaseError> {
        match result {
            Ok(_) => Ok(LeaseStatus::Leader),
            Err(kube::Error::Api(status))
                if status.code == 409 || status.is_conflict() || status.is_already_exists() =>
            {
                Ok(LeaseStatus::LostRace)
            }
            Err(source) => Err(LeaseError::Write { name: self.name.clone(), source }),
        }
    }

    /// One round of the election loop: an attempt bounded by the time left before the renew
    /// deadline, then `is_leader` updated.
    ///
    /// A leader stays leader through failed attempts (API errors, timeouts) until
    /// `renew_deadline` has passed since its last successful renewal; it steps down at once
    /// when it reads that someone else holds the lease or loses a write race (`409`).
    pub async fn step(&mut self) -> Result<LeaseStatus, LeaseError> {
        let now = self.clock.now();
        if self.renewed_at.is_some_and(|at| self.past_deadline(at, now)) {
            self.step_down();
        }
        let budget = match self.renewed_at {
            Some(at) => self.timing.renew_deadline.saturating_sub(elapsed(at, now)),
            None => self.timing.renew_deadline,
        };
        let result = match tokio::time::timeout(budget, self.attempt(now)).await {
            Ok(result) => result,
            Err(_) => Err(LeaseError::TimedOut { name: self.name.clone(), after: budget }),
        };
        match &result {
            Ok(LeaseStatus::Leader) => {
                self.renewed_at = Some(now);
                self.is_leader.send_if_modified(|leading| !std::mem::replace(leading, true));
            }
            // Someone else holds the lease, or wrote it between our read and our write: a
            // second leader may already be at work, so stop at once rather than at the
            // deadline.
            Ok(LeaseStatus::Follower { .. } | LeaseStatus::LostRace) => self.step_down(),
            Err(_) => {
                let now = self.clock.now();
                if self.renewed_at.is_none_or(|at| self.past_deadline(at, now)) {
                    self.step_down();
                }
            }
        }
        result
    }

    fn past_deadline(&self, renewed_at: Timestamp, now: Timestamp) -> bool {
        elapsed(renewed_at, now) >= self.timing.renew_deadline
    }

    fn step_down(&mut self) {
        self.renewed_at = None;
        self.is_leader.send_if_modified(|leading| std::mem::replace(leading, false));
    }

    /// Runs [`LeaseElector::step`] every `retry_period` until `shutdown` completes, then
    /// publishes `is_leader = false` and, if we led, hands the lease back so a follower takes
    /// over without waiting for it to expire. Errors are logged and retried, never fatal: the
    /// API server being away for a while is normal.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let was_leader = self.is_leader();
            // An attempt is idempotent, so one cut short by shutdown needs no cleanup.
            let result = tokio::select! {
                () = &mut shutdown => break,
                result = self.step() => result,
            };
            if let Err(err) = &result {
                tracing::warn!(lease = %self.name, identity = %self.identity, error = %err, "lease attempt failed");
            }
            if self.is_leader() != was_leader {
                tracing::info!(lease = %self.name, identity = %self.identity, leading = self.is_leader(), "leadership changed");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.timing.retry_period) => {}
            }
        }
        let was_leader = self.renewed_at.is_some();
        self.step_down();
        if was_leader && let Err(err) = self.release().await {
            tracing::warn!(lease = %self.name, error = %err, "could not hand the lease back");
        }
    }

    /// Hands the lease back if we hold it: clears `holderIdentity` so a follower's next attempt
    /// takes over instead of waiting for the lease to run out. Publishes `is_leader = false`
    /// first, so leader-only work stops before anyone else can start it. Returns whether a
    /// lease was handed back (a lost race or someone else's lease is not an error).
    pub async fn release(&mut self) -> Result<bool, LeaseError> {
        self.step_down();
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|source| LeaseError::Read { name: self.name.clone(), source })?
        else {
            return Ok(false);
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(false);
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(false);
        }
        if lease.metadata.resource_version.is_none() {
            return Err(LeaseError::MissingResourceVersion { name: self.name.clone() });
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(self.clock.now()));
        let replaced = self.api.replace(&self.name, &PostParams::default(), &lease).await;
        Ok(matches!(self.written(replaced)?, LeaseStatus::Leader))
    }
}

impl<C> Drop for LeaseElector<C> {
    /// A dropped elector renews nothing, so it must not be seen as leading: receivers read
    /// `false` (the lease itself runs out after `lease_duration`).
    fn drop(&mut self) {
        self.is_leader.send_if_modified(|leading| std::mem::replace(leading, false));
    }
}

/// Time from `since` to `now`, zero if the clock went backwards.
fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LEASE: Duration = Duration::from_secs(15);

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn lease(spec: LeaseSpec) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("gc-controller".into()),
                resource_version: Some("7".into()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
        }
    }

    fn held_by(holder: &str, renewed: i64, duration: i32, transitions: i32) -> Lease {
        lease(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(duration),
            acquire_time: Some(MicroTime(at(0))),
            renew_time: Some(MicroTime(at(renewed))),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        })
    }

    #[test]
    fn no_lease_is_created_with_us_as_holder() {
        let Decision::Create(spec) = plan(None, "a", LEASE, at(5)) else {
            panic!("expected Create");
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(5))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(5))));
        assert_eq!(spec.lease_transitions, Some(0));
    }

    #[test]
    fn our_lease_is_renewed_keeping_acquire_time_and_transitions() {
        let observed = held_by("a", 10, 15, 3);
        let Decision::Renew(spec) = plan(Some(&observed), "a", LEASE, at(12)) else {
            panic!("expected Renew");
        };
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(0))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(12))));
        assert_eq!(spec.lease_transitions, Some(3));
    }

    #[test]
    fn our_expired_lease_is_still_renewed_not_taken_over() {
        // Nobody took it while we were away (the resourceVersion will tell): no transition.
        let observed = held_by("a", 0, 15, 3);
        assert!(matches!(plan(Some(&observed), "a", LEASE, at(100)), Decision::Renew(_)));
    }

    #[test]
    fn a_live_lease_of_another_holder_is_followed_until_it_runs_out() {
        let observed = held_by("b", 10, 15, 0);
        assert_eq!(
            plan(Some(&observed), "a", LEASE, at(24)),
            Decision::Follow { holder: "b".into(), until: at(25) }
        );
    }

    #[test]
    fn an_expired_lease_of_another_holder_is_taken_over_with_one_more_transition() {
        let observed = held_by("b", 10, 15, 4);
        let Decision::TakeOver { spec, previous_holder } =
            plan(Some(&observed), "a", LEASE, at(25))
        else {
            panic!("expected TakeOver");
        };
        assert_eq!(previous_holder.as_deref(), Some("b"));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(25))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(25))));
        assert_eq!(spec.lease_transitions, Some(5));
    }

    #[test]
    fn the_holders_own_duration_decides_expiry() {
        // b asked for 60 s; our 15 s does not shorten its lease.
        let observed = held_by("b", 0, 60, 0);
        assert!(matches!(plan(Some(&observed), "a", LEASE, at(30)), Decision::Follow { .. }));
    }

    #[test]
    fn a_lease_without_holder_is_taken_over() {
        for holder in [None, Some(String::new())] {
            let observed = lease(LeaseSpec {
                holder_identity: holder,
                renew_time: Some(MicroTime(at(10))),
                lease_duration_seconds: Some(15),
                lease_transitions: Some(2),
                ..LeaseSpec::default()
            });
            let Decision::TakeOver { spec, previous_holder } =
                plan(Some(&observed), "a", LEASE, at(11))
            else {
                panic!("expected TakeOver");
            };
            assert_eq!(previous_holder, None);
            assert_eq!(spec.lease_transitions, Some(3));
        }
    }

    #[test]
    fn odd_leases_are_decided_without_panicking() {
        let never_renewed =
            lease(LeaseSpec { holder_identity: Some("b".into()), ..LeaseSpec::default() });
        assert!(matches!(plan(Some(&never_renewed), "a", LEASE, at(0)), Decision::TakeOver { .. }));
        let no_spec = Lease { spec: None, ..never_renewed };
        assert!(matches!(plan(Some(&no_spec), "a", LEASE, at(0)), Decision::TakeOver { .. }));
        // Negative duration: ours applies. Renewed at the end of time: never expires.
        let negative = held_by("b", 0, -5, i32::MAX);
        assert!(matches!(plan(Some(&negative), "a", LEASE, at(14)), Decision::Follow { .. }));
        let Decision::TakeOver { spec, .. } = plan(Some(&negative), "a", LEASE, at(15)) else {
            panic!("expected TakeOver");
        };
        assert_eq!(spec.lease_transitions, Some(i32::MAX));
        let far = lease(LeaseSpec {
            holder_identity: Some("b".into()),
            renew_time: Some(MicroTime(Timestamp::MAX)),
            lease_duration_seconds: Some(i32::MAX),
            ..LeaseSpec::default()
        });
        assert!(matches!(
            plan(Some(&far), "a", LEASE, at(0)),
            Decision::Follow { until, .. } if until == Timestamp::MAX
        ));
    }

    #[test]
    fn fields_gc_does_not_manage_are_kept() {
        let mut observed = held_by("b", 0, 15, 0);
        if let Some(spec) = observed.spec.as_mut() {
            spec.preferred_holder = Some("c".into());
            spec.strategy = Some("OldestEmulationVersion".into());
        }
        let Decision::TakeOver { spec, .. } = plan(Some(&observed), "a", LEASE, at(99)) else {
            panic!("expected TakeOver");
        };
        assert_eq!(spec.preferred_holder.as_deref(), Some("c"));
        assert_eq!(spec.strategy.as_deref(), Some("OldestEmulationVersion"));
    }

    #[test]
    fn durations_round_up_to_whole_seconds() {
        assert_eq!(duration_seconds(Duration::from_millis(1)), 1);
        assert_eq!(duration_seconds(Duration::from_millis(15_001)), 16);
        assert_eq!(duration_seconds(Duration::ZERO), 1);
        assert_eq!(duration_seconds(Duration::MAX), i32::MAX);
    }

    #[test]
    fn timing_must_keep_leadership_exclusive() {
        assert!(LeaseTiming::default().validate().is_ok());
        let bad = [(15, 15, 2), (15, 10, 10), (15, 20, 2), (15, 10, 0)];
        for (lease, deadline, retry) in bad {
            let timing = LeaseTiming {
                lease_duration: Duration::from_secs(lease),
                renew_deadline: Duration::from_secs(deadline),
                retry_period: Duration::from_secs(retry),
            };
            assert!(timing.validate().is_err(), "{timing:?}");
        }
    }

    fn any_spec() -> impl Strategy<Value = Option<LeaseSpec>> {
        let holder = prop_oneof![
            Just(None),
            Just(Some(String::new())),
            Just(Some("a".to_owned())),
            Just(Some("b".to_owned())),
        ];
        let time = proptest::option::of((-100i64..100).prop_map(|s| MicroTime(at(s))));
        proptest::option::of(
            (
                holder,
                proptest::option::of(any::<i32>()),
                time.clone(),
                time,
                proptest::option::of(any::<i32>()),
            )
                .prop_map(
                    |(
                        holder_identity,
                        lease_duration_seconds,
                        acquire_time,
                        renew_time,
                        lease_transitions,
                    )| {
                        LeaseSpec {
                            holder_identity,
                            lease_duration_seconds,
                            acquire_time,
                            renew_time,
                            lease_transitions,
                            ..LeaseSpec::default()
                        }
                    },
                ),
        )
    }

    proptest! {
        /// Whatever was read, a written spec names us, is renewed now, and the transition count
        /// moves only when the holder changes, by exactly one; a follow names a live other
        /// holder.
        #[test]
        fn every_decision_is_consistent(
            spec in proptest::option::of(any_spec()),
            now in -100i64..200,
            lease_secs in 1u64..100,
        ) {
            let observed = spec.map(|spec| Lease { spec, ..lease(LeaseSpec::default()) });
            let now = at(now);
            let before = observed.as_ref().and_then(|l| l.spec.clone()).unwrap_or_default();
            match plan(observed.as_ref(), "a", Duration::from_secs(lease_secs), now) {
                Decision::Create(spec) => {
                    prop_assert!(observed.is_none());
                    prop_assert_eq!(spec.holder_identity.as_deref(), Some("a"));
                    prop_assert_eq!(spec.lease_transitions, Some(0));
                    prop_assert_eq!(spec.renew_time, Some(MicroTime(now)));
                }
                Decision::Renew(spec) => {
                    prop_assert_eq!(before.holder_identity.as_deref(), Some("a"));
                    prop_assert_eq!(spec.holder_identity.as_deref(), Some("a"));
                    prop_assert_eq!(spec.lease_transitions, before.lease_transitions);
                    prop_assert_eq!(spec.renew_time, Some(MicroTime(now)));
                    prop_assert!(spec.lease_duration_seconds.unwrap_or(0) > 0);
                }
                Decision::TakeOver { spec, previous_holder } => {
                    prop_assert!(observed.is_some());
                    prop_assert_ne!(previous_holder.as_deref(), Some("a"));
                    prop_assert_eq!(spec.holder_identity.as_deref(), Some("a"));
                    prop_assert_eq!(spec.acquire_time, Some(MicroTime(now)));
                    prop_assert_eq!(spec.renew_time, Some(MicroTime(now)));
                    let old = before.lease_transitions.unwrap_or(0).max(0);
                    prop_assert_eq!(spec.lease_transitions, Some(old.saturating_add(1)));
                    if let Some(until) = expires_at(&before, Duration::from_secs(lease_secs)) {
                        prop_assert!(previous_holder.is_none() || until <= now);
                    }
                }
                Decision::Follow { holder, until } => {
                    prop_assert_eq!(Some(holder.as_str()), before.holder_identity.as_deref());
                    prop_assert_ne!(holder.as_str(), "a");
                    prop_assert!(!holder.is_empty());
                    prop_assert!(now < until);
                }
            }
        }
    }
}
