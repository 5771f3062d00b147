//! What a queue reports for inspection: counts, per-lane counts, one job, the failed list.

use std::time::SystemTime;

use queue_core::{from_unix_ms, Counts, JobId, JobInfo, JobState};

use super::{Key, QueueState};

impl QueueState {
    pub(crate) fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for lane in &self.lanes {
            counts.ready += lane.ready_len() as u64;
            counts.scheduled += lane.scheduled.len() as u64;
            counts.active += lane.active.len() as u64;
        }
        counts.failed = self.failed.len() as u64;
        counts.completed = self.completed_count() as u64;
        counts.paused = self.paused;
        counts
    }

    /// Each lane's counts (without failed jobs, which are counted per queue), by job name.
    pub(crate) fn lane_counts(&self) -> Vec<(String, Counts)> {
        let mut lanes: Vec<(String, Counts)> = self
            .lanes
            .iter()
            .map(|lane| {
                let mut counts = Counts::default();
                counts.ready = lane.ready_len() as u64;
                counts.scheduled = lane.scheduled.len() as u64;
                counts.active = lane.active.len() as u64;
                counts.paused = self.paused;
                (lane.name.to_string(), counts)
            })
            .collect();
        lanes.sort_by(|a, b| a.0.cmp(&b.0));
        lanes
    }

    /// When the longest-waiting job at a lane's head was created: of each lane, the next
    /// job of priority 0 and the next of another priority.
    pub(crate) fn oldest_ready(&self) -> Option<SystemTime> {
        self.lanes
            .iter()
            .flat_map(|lane| {
                let plain = lane.ready.front().copied();
                let ranked = lane.prioritized.first_key_value().map(|(_, key)| *key);
                plain.into_iter().chain(ranked)
            })
            .filter_map(|key| self.jobs.get(key).map(|r| r.created_at))
            .min()
    }

    pub(crate) fn info(&self, id: &JobId) -> Option<JobInfo> {
        self.info_of(self.jobs.key_of(id)?)
    }

    pub(super) fn info_of(&self, key: Key) -> Option<JobInfo> {
        let r = self.jobs.get(key)?;
        let mut info = JobInfo::new(
            self.jobs.id_of(key),
            self.name.clone(),
            self.lanes[r.lane as usize].name.to_string(),
            r.state,
            r.payload.clone(),
            r.attempts,
            r.max_attempts,
            r.priority,
            r.created_at,
        );
        match r.state {
            JobState::Active => info.token = Some(r.token),
            JobState::Completed => info.finished_at = Some(from_unix_ms(r.token)),
            _ => {}
        }
        if r.started != 0 {
            info.started_at = Some(from_unix_ms(r.started));
            let first = r.details.as_ref().and_then(|d| d.first_started);
            info.first_started_at = Some(from_unix_ms(first.unwrap_or(r.started)));
        }
        if let Some(details) = &r.details {
            info.failed_at = details.failed_at;
            info.last_error = details.last_error.clone();
            info.errors = details.errors.iter().cloned().collect();
            info.progress = details.progress.clone();
            info.lost_leases = details.lost_leases;
            if details.cancelled && r.state == JobState::Failed {
                info.state = JobState::Cancelled;
            }
        }
        Some(info)
    }

    pub(crate) fn failed(&self, offset: usize, limit: usize) -> Vec<JobInfo> {
        self.failed
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|key| self.info_of(*key))
            .collect()
    }
}
