//! Workflow steps' jobs run only while their steps are queued.
//!
//! A step's job is stored in its lane by a hand-over that can be repeated (see
//! [`crate::flow::pump`]): a hand-over left unfinished is given back after a while and stored
//! again, and an id stored already is not stored twice. But a step whose job ended, and was
//! acked, between a repeated hand-over's take and its store gets its job stored a second time;
//! and a workflow deleted while a hand-over was under way leaves a job of a step that no longer
//! exists. Before running a reservation's step jobs, a worker reads their steps (one call per
//! workflow, the calls side by side) and acks, without running them, the jobs of steps that are
//! not queued (so also a failed step's job retried from its lane's failed list: steps are
//! retried through their workflow). Jobs that are not steps never wait for this: they start at
//! once, and a reservation without step jobs costs one compare of each id's opening.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant as LeaseClock;
use tokio_util::sync::CancellationToken;

use crate::flow::{group_by_flow, is_step_id, parse_step_id};
use crate::job::ReservedJob;
use crate::worker::pool::Pool;

impl Pool {
    /// Takes the step jobs out of `jobs`, with a permit each, and has them started in a task
    /// of their own once their steps are read. Returns the other jobs and permits.
    pub(crate) fn set_steps_aside(
        self: &Arc<Self>,
        jobs: Vec<ReservedJob>,
        mut permits: OwnedSemaphorePermit,
        reserved_at: LeaseClock,
        workers: usize,
        stop: &CancellationToken,
    ) -> (Vec<ReservedJob>, OwnedSemaphorePermit) {
        if !jobs.iter().any(|job| is_step_id(&job.id)) || self.scope.driver.workflows().is_none() {
            return (jobs, permits);
        }
        let (steps, others): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|j| is_step_id(&j.id));
        let taken = permits
            .split(steps.len())
            .expect("one permit per reserved job");
        let pool = self.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            pool.start_steps(steps, taken, reserved_at, workers, stop)
                .await
        });
        (others, permits)
    }

    /// Reads the steps of `jobs` (step jobs), starts the jobs of queued steps and then acks
    /// the others without running them. A step that cannot be read is run: a repeated run is
    /// what at-least-once delivery allows, and its end changes nothing. Once `stop` is
    /// cancelled, the jobs go back unrun instead, as the fetch loop hands back reservations
    /// that answer after it (the pool's drain waits for their permits, so for this task; the
    /// jobs started just before it get the grace period as any).
    async fn start_steps(
        self: Arc<Self>,
        jobs: Vec<ReservedJob>,
        mut permits: OwnedSemaphorePermit,
        reserved_at: LeaseClock,
        workers: usize,
        stop: CancellationToken,
    ) {
        // A read that does not answer does not hold the worker's stop up.
        let queued = tokio::select! {
            queued = self.read_steps(&jobs) => queued,
            _ = stop.cancelled() => {
                self.hand_back(jobs);
                return;
            }
        };
        let (run, skip): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .zip(queued)
            .partition(|(_, queued)| *queued);
        let run: Vec<ReservedJob> = run.into_iter().map(|(job, _)| job).collect();
        let skip_permits = permits.split(skip.len());
        if stop.is_cancelled() {
            self.hand_back(run);
        } else if !run.is_empty() && !self.handed_back_late(&run, reserved_at) {
            self.start_read(run, permits, reserved_at, workers).await;
        }
        if skip.is_empty() {
            return;
        }
        for (job, _) in &skip {
            tracing::info!(lane = %self.lane(), id = %job.id, "not running a workflow step's job: its step is not queued (it ended, or its workflow is gone)");
        }
        let leases: Vec<_> = skip.iter().map(|(job, _)| job.lease()).collect();
        // Not acked (an error): its lease ends and it comes back to be read again.
        if let Err(error) = self.scope.driver.ack(self.lane(), &leases).await {
            tracing::warn!(lane = %self.lane(), %error, "could not ack the jobs of steps that are not queued");
        }
        drop(skip_permits);
    }

    /// Whether each of `jobs` (step jobs) has its step queued, one call per workflow; true
    /// for those whose workflow could not be read.
    async fn read_steps(&self, jobs: &[ReservedJob]) -> Vec<bool> {
        let Some(store) = self.scope.driver.workflows() else {
            return vec![true; jobs.len()];
        };
        let mut queued = vec![true; jobs.len()];
        // Per workflow: the positions of its jobs and their steps.
        let groups = group_by_flow(jobs.iter().enumerate().filter_map(|(i, job)| {
            let (flow, step) = parse_step_id(&job.id)?;
            Some((i, flow, step))
        }));
        let reads = groups
            .iter()
            .map(|(flow, _, steps)| store.queued_steps(flow, steps));
        let reads = futures_util::future::join_all(reads).await;
        for ((flow, at, _), read) in groups.iter().zip(reads) {
            match read {
                Ok(read) => at.iter().zip(read).for_each(|(&i, q)| queued[i] = q),
                Err(error) => {
                    tracing::warn!(lane = %self.lane(), %flow, %error, "could not read workflow steps before running their jobs; running them")
                }
            }
        }
        queued
    }
}
