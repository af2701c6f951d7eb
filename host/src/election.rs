//! Leader election on a `coordination.k8s.io/v1` Lease: of several replicas exactly one delivers
//! events, the others stand by, warm (issue 8).
//!
//! The algorithm is client-go's `leaderelection` with a `LeaseLock`, in plain Rust:
//!
//! - Every `retry_period`, each replica reads the Lease. Absent: it creates it, holding it. Held by
//!   itself: it renews it (`renewTime`). Held by another: it takes it over only once the Lease
//!   has not changed for the lease duration *by its own clock*, counted from when it last saw the
//!   record change (holder, `renewTime` or `resourceVersion`); the holder's timestamps come from
//!   another clock and are never compared with ours. A released Lease (no holder) is taken at
//!   once. A takeover counts one more `leaseTransitions` and sets `acquireTime`.
//! - Every write names the `resourceVersion` it read (optimistic concurrency): of two replicas
//!   racing, one gets 409 Conflict and is a follower.
//! - The leader counts itself leader only until `renew_deadline` after it *sent* its last
//!   successful write; a follower waits `lease_duration` after it *received* the record that
//!   write made. With `renew_deadline < lease_duration`, the leader has stepped down before
//!   anyone can take over: there is never a moment with two leaders, as long as the clocks run at
//!   about the same rate (they need not agree on the time).
//! - [`Elector::release`], for a graceful shutdown, stops renewing, steps down, then clears the
//!   holder (with `leaseDurationSeconds: 1`, like client-go's `ReleaseOnCancel`): a standby takes
//!   over at its next retry instead of after the lease expires.
//!
//! The role is published on a [`tokio::sync::watch`] channel ([`Elector::role`]): the binary
//! delivers events while it reads [`Role::Leader`], and a lost lease is published the moment it
//! is lost (at the renew deadline even while a request hangs).
//!
//! Every replica should use the same durations. A follower waits the longer of its own
//! `lease_duration` and the holder's `leaseDurationSeconds`, so that a holder configured with a
//! longer lease (during a rollout that changes it) is not cut short.
//!
//! As with client-go, deleting the Lease by hand while a leader runs lets another replica create
//! it and lead before the old leader notices (at its next retry): don't.
//!
//! ```no_run
//! # async fn example(client: kube::Client) -> Result<(), event_controller::election::ElectionError> {
//! use event_controller::election::{Elector, LeaseSettings};
//!
//! let elector = Elector::start(client, LeaseSettings::new("ns", "event-controller", "pod-a"))?;
//! let mut role = elector.role();
//! // Deliver while `role.borrow().is_leader()`; `role.changed().await` wakes at every change.
//! let _ = role.changed().await;
//! // On SIGTERM: step down and hand the Lease over.
//! elector.release().await?;
//! # Ok(())
//! # }
//! ```

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a follower waits, after the Lease last changed, before it takes the Lease over.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the leader keeps leading without a successful renewal.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often every replica tries to acquire or renew the Lease.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Which Lease to hold, as whom, and the timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's name in `holderIdentity`, unique among the replicas (the binary uses
    /// `POD_NAME`, or the hostname and process id).
    pub identity: String,
    /// How long a follower waits after the Lease last changed before taking it over.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal; shorter than
    /// `lease_duration`.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew; shorter than `renew_deadline`.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// The Lease `namespace/name` held as `identity`, with the default durations (15 s, 10 s,
    /// 2 s, as client-go's).
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> LeaseSettings {
        LeaseSettings {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// Checks that the names are given and that
    /// `retry_period < renew_deadline < lease_duration`.
    pub fn validate(&self) -> Result<(), ElectionError> {
        let invalid = |message: String| Err(ElectionError::Settings(message));
        for (what, value) in [
            ("namespace", &self.namespace),
            ("name", &self.name),
            ("identity", &self.identity),
        ] {
            if value.trim().is_empty() {
                return invalid(format!("the lease {what} is empty"));
            }
        }
        if self.retry_period.is_zero() {
            return invalid("the retry period is zero".to_owned());
        }
        if self.renew_deadline >= self.lease_duration {
            return invalid(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?}), or two \
                 replicas could both believe they lead",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period >= self.renew_deadline {
            return invalid(format!(
                "the retry period ({:?}) must be shorter than the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        if self.lease_duration.as_secs() >= i32::MAX as u64 {
            return invalid(format!(
                "the lease duration ({:?}) is too long",
                self.lease_duration
            ));
        }
        Ok(())
    }

    /// `namespace/name`, for messages.
    fn lease(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// `leaseDurationSeconds`: the lease duration rounded up to whole seconds.
    fn lease_seconds(&self) -> i32 {
        let seconds =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
    }
}

/// What this replica is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It holds the Lease, renewed within the renew deadline: it delivers events.
    Leader,
    /// It does not hold the Lease.
    Follower {
        /// The holder, when known (`None`: nobody, or not known yet).
        holder: Option<String>,
    },
}

impl Role {
    pub fn is_leader(&self) -> bool {
        matches!(self, Role::Leader)
    }
}

/// Why a step of the election failed. Failed steps are retried every retry period.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// The settings are inconsistent.
    #[error("invalid leader election settings: {0}")]
    Settings(String),
    /// The API server refused the request.
    #[error("lease {lease}: {action} failed: HTTP {code} {reason}: {message}")]
    Refused {
        /// `namespace/name`.
        lease: String,
        /// What was being done: "reading", "creating", "renewing", "taking over", "releasing".
        action: &'static str,
        /// The HTTP status.
        code: u16,
        /// The Status reason (`Forbidden`, `InternalError`...).
        reason: String,
        /// The Status message.
        message: String,
    },
    /// The request got no answer (connection, TLS, a broken response).
    #[error("lease {lease}: {action} failed: {message}")]
    Request {
        /// `namespace/name`.
        lease: String,
        /// What was being done.
        action: &'static str,
        /// The error and its causes.
        message: String,
    },
    /// The request got no answer in time.
    #[error("lease {lease}: {action} got no answer within {after:?}")]
    Timeout {
        /// `namespace/name`.
        lease: String,
        /// What was being done.
        action: &'static str,
        /// How long it waited.
        after: Duration,
    },
}

/// A replica campaigning for the Lease, on a task of its own, until [`Elector::release`] (or
/// until dropped, which stops it at once without releasing, like a crash: the role is Follower
/// from that moment on).
pub struct Elector {
    role: watch::Receiver<Role>,
    published: Arc<Published>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ElectionError>>>,
}

impl std::fmt::Debug for Elector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elector")
            .field("role", &*self.role.borrow())
            .finish_non_exhaustive()
    }
}

impl Elector {
    /// Starts campaigning for the Lease in `settings` through `client`, on a task of the current
    /// tokio runtime (panics outside one). Starts as a follower with no known holder.
    pub fn start(client: kube::Client, settings: LeaseSettings) -> Result<Elector, ElectionError> {
        settings.validate()?;
        let (sender, role) = watch::channel(Role::Follower { holder: None });
        let published = Arc::new(Published {
            sender,
            ended: AtomicBool::new(false),
        });
        let (stop, stopped) = oneshot::channel();
        let campaign = Campaign {
            api: Api::namespaced(client, &settings.namespace),
            lease: settings.lease(),
            settings,
            role: published.clone(),
            renewed: None,
            observed: None,
            unsure: false,
            action: "reading",
            errors: ErrorStreak::default(),
        };
        let task = tokio::spawn(campaign.run_until(stopped));
        Ok(Elector {
            role,
            published,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The role, now and as it changes.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    pub fn is_leader(&self) -> bool {
        self.role.borrow().is_leader()
    }

    /// For a graceful shutdown: stops renewing, steps down (published at once), then, if this
    /// replica held the Lease, clears its holder so that a standby takes over at its next retry.
    /// Gives up after the renew deadline; the Lease then expires as after a crash.
    pub async fn release(mut self) -> Result<(), ElectionError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => result,
                // The task panicked: the role is already Follower (see `Published::end`).
                Err(error) => {
                    tracing::error!(%error, "the leader election task failed");
                    Ok(())
                }
            },
            None => Ok(()),
        }
    }
}

impl Drop for Elector {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        // The task may still be in the middle of a step: it publishes nothing after this.
        self.published.end();
    }
}

/// The role channel, shared by the task (which publishes) and the [`Elector`] (which can end it
/// at once when dropped, before the aborted task stops).
struct Published {
    sender: watch::Sender<Role>,
    /// Set, under the channel's lock, when the campaign ended: nothing is published after.
    ended: AtomicBool,
}

impl Published {
    /// Publishes `role` unless it is the current one or the campaign ended; whether it did.
    fn publish(&self, role: Role) -> bool {
        self.sender.send_if_modified(|current| {
            if self.ended.load(Ordering::SeqCst) || *current == role {
                return false;
            }
            *current = role;
            true
        })
    }

    /// Ends the campaign: Follower from now on, whatever the task still does.
    fn end(&self) {
        self.sender.send_if_modified(|current| {
            self.ended.store(true, Ordering::SeqCst);
            if current.is_leader() {
                *current = Role::Follower { holder: None };
                return true;
            }
            false
        });
    }
}

/// The election's state, owned by its task.
struct Campaign {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// `namespace/name`, for messages.
    lease: String,
    role: Arc<Published>,
    /// While leader: when the write that last acquired or renewed the Lease was sent.
    /// Leadership lapses `renew_deadline` later.
    renewed: Option<Instant>,
    /// The record as last read, and when it last changed by our clock.
    observed: Option<Observed>,
    /// A write's outcome is unknown (no answer): the Lease may be ours.
    unsure: bool,
    /// What the request in flight does, for a timeout's message.
    action: &'static str,
    errors: ErrorStreak,
}

/// The parts of a Lease whose change shows that its holder is alive.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    resource_version: Option<String>,
    /// `leaseDurationSeconds`.
    duration: Duration,
}

impl Record {
    fn of(lease: &Lease) -> Record {
        let spec = lease.spec.as_ref();
        Record {
            holder: holder_of(lease),
            renew_time: spec.and_then(|s| s.renew_time.clone()),
            resource_version: lease.metadata.resource_version.clone(),
            duration: spec
                .and_then(|s| s.lease_duration_seconds)
                .and_then(|s| u64::try_from(s).ok())
                .map_or(Duration::ZERO, Duration::from_secs),
        }
    }
}

struct Observed {
    record: Record,
    /// When we first read this record.
    since: Instant,
}

/// What one attempt found.
enum Attempt {
    /// We hold the Lease, by the write sent at this instant.
    Leader { sent: Instant },
    /// Someone else holds it (or nobody, and we could not take it).
    Follower { holder: Option<String> },
    /// Our write lost a race: someone else changed the Lease first.
    Conflict,
}

fn holder_of(lease: &Lease) -> Option<String> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .filter(|h| !h.is_empty())
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

impl Campaign {
    /// Campaigns until `stop` is sent, then releases the Lease. Ends without releasing if the
    /// [`Elector`] is dropped instead.
    async fn run_until(mut self, stop: oneshot::Receiver<()>) -> Result<(), ElectionError> {
        tokio::select! {
            stopped = stop => {
                if stopped.is_err() {
                    return Ok(());
                }
            }
            () = self.run() => {}
        }
        self.release().await
    }

    async fn run(&mut self) {
        loop {
            self.attempt().await;
            tokio::time::sleep_until(self.next_attempt()).await;
        }
    }

    /// When the leader's leadership lapses without a renewal.
    fn deadline(&self) -> Option<Instant> {
        self.renewed.map(|sent| sent + self.settings.renew_deadline)
    }

    /// One round: read the Lease, then create, renew or take it over when that is due. A leader
    /// steps down the moment its renew deadline passes, even while a request hangs.
    async fn attempt(&mut self) {
        if self.deadline().is_some_and(|d| Instant::now() >= d) {
            self.lapse();
        }
        let limit = self
            .deadline()
            .unwrap_or_else(|| Instant::now() + self.settings.renew_deadline);
        let started = Instant::now();
        match tokio::time::timeout_at(limit, self.try_acquire_or_renew()).await {
            Ok(Ok(outcome)) => {
                self.errors.recovered(&self.lease);
                self.apply(outcome);
            }
            Ok(Err(error)) => self.errors.failed(&error, self.settings.retry_period),
            Err(_) => {
                let error = ElectionError::Timeout {
                    lease: self.lease.clone(),
                    action: self.action,
                    after: started.elapsed(),
                };
                self.errors.failed(&error, self.settings.retry_period);
                if self.deadline().is_some_and(|d| Instant::now() >= d) {
                    self.lapse();
                }
            }
        }
    }

    /// When to try next: after the retry period, or sooner when the leader's renew deadline or
    /// the observed holder's expiry comes first.
    fn next_attempt(&self) -> Instant {
        let now = Instant::now();
        let retry = now + self.settings.retry_period;
        if let Some(deadline) = self.deadline() {
            return retry.min(deadline);
        }
        match self.expiry() {
            Some(expiry) if expiry > now => retry.min(expiry),
            _ => retry,
        }
    }

    /// When another holder's Lease, as last observed, expires by our clock.
    fn expiry(&self) -> Option<Instant> {
        let observed = self.observed.as_ref()?;
        let holder = observed.record.holder.as_deref()?;
        if holder == self.settings.identity {
            return None;
        }
        let duration = self.settings.lease_duration.max(observed.record.duration);
        Some(observed.since + duration)
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, ElectionError> {
        self.action = "reading";
        let found = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(|e| self.error("reading", e))?;
        let read_at = Instant::now();
        self.unsure = false;
        let Some(lease) = found else {
            return self.create().await;
        };
        self.observe(&lease, read_at);
        let holder = holder_of(&lease);
        let ours = holder.as_deref() == Some(self.settings.identity.as_str());
        let expired = self.expiry().is_some_and(|expiry| read_at >= expiry);
        if holder.is_some() && !ours && !expired {
            return Ok(Attempt::Follower { holder });
        }
        let action = if ours { "renewing" } else { "taking over" };
        let transitions = lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0);
        let claim = self.claim(lease, ours);
        self.action = action;
        self.unsure = true;
        let sent = Instant::now();
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &claim)
            .await
        {
            Ok(written) => {
                self.unsure = false;
                self.observe(&written, Instant::now());
                if !ours {
                    tracing::debug!(
                        lease = %self.lease,
                        previous = holder.as_deref().unwrap_or(""),
                        transitions = transitions.saturating_add(1),
                        "took the lease over"
                    );
                }
                Ok(Attempt::Leader { sent })
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.unsure = false;
                tracing::debug!(lease = %self.lease, "{action}: the lease changed meanwhile ({})", status.message);
                Ok(Attempt::Conflict)
            }
            Err(error) => Err(self.error(action, error)),
        }
    }

    /// Creates the Lease, holding it.
    async fn create(&mut self) -> Result<Attempt, ElectionError> {
        self.observed = None;
        let now = now();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.settings.name.clone()),
                namespace: Some(self.settings.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.settings.identity.clone()),
                lease_duration_seconds: Some(self.settings.lease_seconds()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        self.action = "creating";
        self.unsure = true;
        let sent = Instant::now();
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                self.unsure = false;
                self.observe(&created, Instant::now());
                tracing::debug!(lease = %self.lease, "created the lease");
                Ok(Attempt::Leader { sent })
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.unsure = false;
                Ok(Attempt::Conflict)
            }
            Err(error) => Err(self.error("creating", error)),
        }
    }

    /// `lease` renewed by us (`ours`), or taken over: one more transition, a new acquire time.
    /// Its resourceVersion stays: the write succeeds only if nobody wrote since we read it.
    fn claim(&self, mut lease: Lease, ours: bool) -> Lease {
        let now = now();
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if !ours {
            spec.holder_identity = Some(self.settings.identity.clone());
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(self.settings.lease_seconds());
        lease
    }

    /// Notes `lease` as read at `at`; the observed time moves only when the record changed.
    fn observe(&mut self, lease: &Lease, at: Instant) {
        let record = Record::of(lease);
        if self.observed.as_ref().is_none_or(|o| o.record != record) {
            self.observed = Some(Observed { record, since: at });
        }
    }

    fn apply(&mut self, outcome: Attempt) {
        match outcome {
            Attempt::Leader { sent } => {
                if self.renewed.replace(sent).is_none() && self.role.publish(Role::Leader) {
                    tracing::info!(lease = %self.lease, identity = %self.settings.identity, "became leader");
                }
            }
            Attempt::Follower { holder } => {
                if self.renewed.take().is_some() {
                    tracing::info!(
                        lease = %self.lease,
                        holder = holder.as_deref().unwrap_or(""),
                        "lost the lease to {}",
                        holder.as_deref().unwrap_or("nobody")
                    );
                }
                self.follow(holder);
            }
            Attempt::Conflict => {
                if self.renewed.take().is_some() {
                    tracing::info!(lease = %self.lease, "lost the lease: someone else changed it");
                    self.follow(None);
                }
            }
        }
    }

    /// Publishes `Follower { holder }` if that is news.
    fn follow(&mut self, holder: Option<String>) {
        let role = Role::Follower {
            holder: holder.clone(),
        };
        if !self.role.publish(role) {
            return;
        }
        if let Some(holder) = &holder {
            tracing::info!(lease = %self.lease, leader = %holder, "leader is now {holder}");
        }
    }

    /// The renew deadline passed without a renewal: step down.
    fn lapse(&mut self) {
        if self.renewed.take().is_some() {
            tracing::warn!(
                lease = %self.lease,
                renew_deadline_ms = self.settings.renew_deadline.as_millis() as u64,
                "lost the lease: not renewed within the renew deadline; stepping down"
            );
            self.role.publish(Role::Follower { holder: None });
        }
    }

    /// Steps down, then clears the holder if the Lease is (or may be) ours, within the renew
    /// deadline.
    async fn release(&mut self) -> Result<(), ElectionError> {
        let was_leader = self.renewed.take().is_some();
        self.role.publish(Role::Follower { holder: None });
        if !was_leader && !self.unsure {
            return Ok(());
        }
        let limit = self.settings.renew_deadline;
        let result = match tokio::time::timeout(limit, self.clear_holder()).await {
            Ok(result) => result,
            Err(_) => Err(ElectionError::Timeout {
                lease: self.lease.clone(),
                action: "releasing",
                after: limit,
            }),
        };
        if let Err(error) = &result {
            tracing::warn!(lease = %self.lease, "{error}; the lease will expire instead");
        }
        result
    }

    async fn clear_holder(&mut self) -> Result<(), ElectionError> {
        loop {
            let found = self
                .api
                .get_opt(&self.settings.name)
                .await
                .map_err(|e| self.error("releasing", e))?;
            let Some(mut lease) = found else {
                return Ok(());
            };
            if holder_of(&lease).as_deref() != Some(self.settings.identity.as_str()) {
                return Ok(());
            }
            let now = now();
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.acquire_time = Some(now.clone());
            spec.renew_time = Some(now);
            match self
                .api
                .replace(&self.settings.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => {
                    tracing::info!(lease = %self.lease, "released the lease");
                    return Ok(());
                }
                // Changed since we read it (a renewal of ours that was still on its way, or a
                // takeover): read it again.
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => return Err(self.error("releasing", error)),
            }
        }
    }

    fn error(&self, action: &'static str, error: kube::Error) -> ElectionError {
        match error {
            kube::Error::Api(status) => ElectionError::Refused {
                lease: self.lease.clone(),
                action,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => ElectionError::Request {
                lease: self.lease.clone(),
                action,
                message: crate::cluster::error_chain(&other),
            },
        }
    }
}

impl Drop for Campaign {
    /// However the task ends (released, aborted, panicked), this replica no longer leads.
    fn drop(&mut self) {
        self.role.end();
    }
}

/// Failures in a row: logged at WARN when a streak starts (or its error changes), not at every
/// retry, and at INFO when it ends.
#[derive(Default)]
struct ErrorStreak {
    since: Option<std::time::Instant>,
    failures: u32,
    last: String,
}

impl ErrorStreak {
    fn failed(&mut self, error: &ElectionError, retry: Duration) {
        self.failures += 1;
        let message = error.to_string();
        if self.since.is_none() || message != self.last {
            tracing::warn!(
                retry_every_ms = retry.as_millis() as u64,
                "{message}; retrying (logged once until it changes or succeeds)"
            );
            self.last = message;
        } else {
            tracing::debug!(failures = self.failures, "{message}; retrying");
        }
        self.since.get_or_insert_with(std::time::Instant::now);
    }

    fn recovered(&mut self, lease: &str) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                lease,
                failures = self.failures,
                after_ms = since.elapsed().as_millis() as u64,
                "the lease can be read and written again"
            );
            self.failures = 0;
            self.last.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LeaseSettings {
        LeaseSettings::new("ns", "event-controller", "a")
    }

    #[test]
    fn defaults_are_client_gos() {
        let s = settings();
        assert_eq!(
            (s.lease_duration, s.renew_deadline, s.retry_period),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        assert!(s.validate().is_ok());
        assert_eq!(s.lease_seconds(), 15);
    }

    #[test]
    fn inconsistent_durations_are_refused() {
        let mut s = settings();
        s.renew_deadline = s.lease_duration;
        let error = s.validate().expect_err("renew deadline = lease duration");
        assert!(error
            .to_string()
            .contains("must be shorter than the lease duration"));
        let mut s = settings();
        s.retry_period = Duration::from_secs(10);
        assert!(s.validate().is_err());
        let mut s = settings();
        s.identity = " ".into();
        assert!(s.validate().is_err());
    }

    #[test]
    fn lease_seconds_round_up() {
        let mut s = settings();
        s.lease_duration = Duration::from_millis(1500);
        assert_eq!(s.lease_seconds(), 2);
        s.lease_duration = Duration::from_millis(300);
        assert_eq!(s.lease_seconds(), 1);
    }

    #[test]
    fn nothing_is_published_after_the_end() {
        let (sender, role) = watch::channel(Role::Follower { holder: None });
        let published = Published {
            sender,
            ended: AtomicBool::new(false),
        };
        assert!(published.publish(Role::Leader));
        assert!(!published.publish(Role::Leader), "no news");
        published.end();
        assert_eq!(*role.borrow(), Role::Follower { holder: None });
        assert!(!published.publish(Role::Leader));
        assert!(!role.borrow().is_leader());
    }

    #[test]
    fn an_empty_holder_is_no_holder() {
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(String::new()),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        assert_eq!(holder_of(&lease), None);
        assert_eq!(holder_of(&Lease::default()), None);
    }
}
