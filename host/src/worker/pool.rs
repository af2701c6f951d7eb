//! A plugin's workers: one lane by default, `workers = N` lanes for a CPU-heavy plugin. Each lane
//! is a [`Worker`] with its own instance of the plugin, backlog, retries and checkpoint; events
//! are partitioned by object (a stable hash of its uid, or of its kind, namespace and name), so
//! each object's events always go to the same lane and stay in order, while the lanes run in
//! parallel. The lanes share no state: a plugin that keeps state across objects must run with
//! one lane.

use super::{CheckpointSettings, Lane, Worker, WorkerOptions, WorkerStats, MAX_PENDING_RETRIES};
use crate::event::WatchEvent;
use crate::metrics::Metrics;
use crate::plugin::{LoadError, Plugin};
use crate::source::ListedTarget;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Why a plugin's workers could not start.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The operating system refused a thread.
    #[error("cannot start a worker thread for plugin {plugin}: {source}")]
    Thread {
        plugin: String,
        source: std::io::Error,
    },
    /// Another instance of the plugin, for a lane, did not start.
    #[error("cannot start lane {lane} of plugin {plugin}: {source}")]
    Instance {
        plugin: String,
        lane: usize,
        source: Box<LoadError>,
    },
}

/// A plugin's lanes.
pub struct Pool {
    lanes: Vec<Worker>,
}

impl Pool {
    /// Starts `options.workers` lanes for `plugin` (the first runs `plugin` itself, the others
    /// fresh instances of it).
    pub fn start(
        plugin: Plugin,
        options: WorkerOptions,
        metrics: Arc<Metrics>,
        stopping: Arc<AtomicBool>,
        checkpoints: Option<CheckpointSettings>,
    ) -> Result<Pool, PoolError> {
        let count = options.workers.max(1);
        let name = plugin.name().to_owned();
        let instances = Pool::instances(plugin, count)?;
        let lanes = instances
            .into_iter()
            .enumerate()
            .map(|(index, instance)| {
                let lane = Lane { index, count };
                Worker::start_lane(
                    instance,
                    options.clone(),
                    metrics.clone(),
                    stopping.clone(),
                    checkpoints.clone(),
                    lane,
                    MAX_PENDING_RETRIES,
                )
                .map_err(|source| PoolError::Thread {
                    plugin: name.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<Worker>, PoolError>>()?;
        Ok(Pool { lanes })
    }

    fn first(&self) -> &Worker {
        &self.lanes[0]
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.first().name()
    }

    /// Whether the plugin sees Secrets' data.
    pub fn allows_secrets(&self) -> bool {
        self.first().allows_secrets()
    }

    /// Whether the plugin subscribed to `event`.
    pub fn wants(&self, event: &WatchEvent) -> bool {
        self.first().wants(event)
    }

    /// The lane that handles `event`'s object.
    fn lane_of(&self, event: &WatchEvent) -> &Worker {
        &self.lanes[lane_index(event, self.lanes.len())]
    }

    /// Hands `event` to its object's lane, never waiting (see [`Worker::send`]).
    pub fn send(&self, event: WatchEvent) -> bool {
        self.lane_of(&event).send(event)
    }

    /// Hands `event` to its object's lane once that lane has room (see
    /// [`Worker::send_when_room`]).
    pub fn send_when_room(&self, event: WatchEvent) -> bool {
        self.lane_of(&event).send_when_room(event)
    }

    /// How many lanes (instances) the plugin runs on; it stays for the pool's life.
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// `plugin` and `count - 1` more instances of it, for [`Pool::switch_to`]: starting an
    /// instance runs guest code, so it happens before the switch, with no lock held.
    pub fn instances(plugin: Plugin, count: usize) -> Result<Vec<Plugin>, PoolError> {
        let mut more = Vec::with_capacity(count);
        for lane in 1..count {
            let instance = plugin
                .another_instance()
                .map_err(|source| PoolError::Instance {
                    plugin: plugin.name().to_owned(),
                    lane,
                    source: Box::new(source),
                })?;
            more.push(instance);
        }
        let mut all = vec![plugin];
        all.extend(more);
        Ok(all)
    }

    /// Switches every lane to a new version of the plugin (one of `instances` each, made by
    /// [`Pool::instances`] for [`Pool::lane_count`] lanes), behind what each has queued.
    pub fn switch_to(&mut self, instances: Vec<Plugin>, options: WorkerOptions) {
        debug_assert_eq!(instances.len(), self.lanes.len());
        for (lane, instance) in self.lanes.iter_mut().zip(instances) {
            lane.replace(instance, options.clone());
        }
    }

    /// Every lane resumes from its checkpoint (see [`Worker::resume`]).
    pub fn resume(&self) {
        self.lanes.iter().for_each(Worker::resume);
    }

    /// The first lists are complete, for every lane (see [`Worker::lists_complete`]).
    pub fn lists_complete(&self, watched: &[ListedTarget], report_deletions: bool) {
        for lane in &self.lanes {
            lane.lists_complete(watched.to_vec(), report_deletions);
        }
    }

    /// Waits until every lane is idle.
    pub fn wait_idle(&self) {
        self.lanes.iter().for_each(Worker::wait_idle);
    }

    /// Ends every lane (see [`Worker::finish`]); what they did, summed.
    pub fn finish(self) -> WorkerStats {
        self.lanes
            .into_iter()
            .map(Worker::finish)
            .fold(WorkerStats::default(), |sum, lane| WorkerStats {
                calls: sum.calls + lane.calls,
                failures: sum.failures + lane.failures,
                skipped: sum.skipped + lane.skipped,
            })
    }
}

/// The lane of `event`'s object among `lanes`: a CRC-32 of its uid (or of its kind, namespace
/// and name), stable across restarts so that each lane's checkpoint keeps its objects.
fn lane_index(event: &WatchEvent, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let meta = event.meta();
    let hash = match meta.uid() {
        Some(uid) => crc32fast::hash(uid.as_bytes()),
        None => crc32fast::hash(meta.key().as_bytes()),
    };
    usize::try_from(hash).unwrap_or(0) % lanes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str) -> WatchEvent {
        let line = format!(
            r#"{{"type":"ADDED","object":{{"kind":"Pod","metadata":{{"name":"n-{uid}","namespace":"ns","uid":"{uid}","resourceVersion":"1"}}}}}}"#
        );
        WatchEvent::parse(line).expect("an event")
    }

    #[test]
    fn an_object_always_goes_to_the_same_lane_and_objects_spread_over_all() {
        let mut counts = [0usize; 4];
        for i in 0..400 {
            let event = pod(&format!("uid-{i}"));
            let lane = lane_index(&event, 4);
            assert_eq!(lane, lane_index(&pod(&format!("uid-{i}")), 4));
            counts[lane] += 1;
        }
        assert!(counts.iter().all(|&n| n > 60), "{counts:?}");
        assert_eq!(lane_index(&pod("x"), 1), 0);
    }
}
