//! Reading what succeeded: kept results, awaiting a job's result, and cleaning old completed or
//! failed jobs (the driver's [`Retention`] capability).

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::driver::Retention;
use crate::error::{Error, Result};
use crate::job::{JobId, JobState};
use crate::queue::Queue;

/// The longest pause between two looks while awaiting a result.
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

impl Queue {
    /// The driver's keeping of completed jobs and results, or an error saying it has none.
    fn retention(&self) -> Result<&dyn Retention> {
        self.driver().retention().ok_or_else(|| Error::Unsupported {
            capability: "keeping completed jobs and results",
            driver: format!("{:?}", self.driver()),
        })
    }

    /// The kept result of job `id` of `queue` (its handler's `Ok` value, for handlers with
    /// `keep_result`), decoded as `T` (`serde_json::Value` for any). `None` when the job has no
    /// result: not finished yet, its handler keeps none, or it expired. A job of a sharded
    /// lane is looked for in the shard that holds it.
    pub async fn result<T: DeserializeOwned>(&self, queue: &str, id: &JobId) -> Result<Option<T>> {
        let retention = self.retention()?;
        let holder = self.holder_of(queue, id).await?;
        let Some(bytes) = retention.result(&holder, id).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|source| {
            Error::storage(format!(
                "the result of job `{id}` in queue `{queue}` does not decode as {}: {source}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Waits up to `timeout` for job `id` of `queue` to finish and returns its result (see
    /// [`Queue::result`]). A job that ends in the failed list is [`Error::JobFailed`] with its
    /// error; one that completed without a kept result, or no longer exists, is
    /// [`Error::NoResult`] at once; a job still pending at the end is [`Error::ResultTimeout`].
    /// Looks at the storage every few milliseconds at first, then every 200 ms.
    pub async fn wait_result<T: DeserializeOwned>(
        &self,
        queue: &str,
        id: &JobId,
        timeout: Duration,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(result) = self.result(queue, id).await? {
                return Ok(result);
            }
            // Without inspection, only the result itself can be watched for.
            let job = match self.driver().admin() {
                Some(admin) => Some(admin.job(&self.holder_of(queue, id).await?, id).await?),
                None => None,
            };
            let no_result = |reason: &str| Error::NoResult {
                queue: queue.to_string(),
                id: id.to_string(),
                reason: reason.to_string(),
            };
            match &job {
                Some(Some(job)) if job.state == JobState::Failed => {
                    return Err(Error::JobFailed {
                        queue: queue.to_string(),
                        id: id.to_string(),
                        error: job.last_error.clone().unwrap_or_default(),
                    });
                }
                Some(Some(job)) if job.state == JobState::Completed => {
                    // It may have completed between the two reads.
                    if let Some(result) = self.result(queue, id).await? {
                        return Ok(result);
                    }
                    return Err(no_result(
                        "it completed without a kept result (does its handler have keep_result?)",
                    ));
                }
                Some(None) => {
                    if let Some(result) = self.result(queue, id).await? {
                        return Ok(result);
                    }
                    return Err(no_result("it no longer exists and left no result"));
                }
                _ => {}
            }
            let job = job.flatten();
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::ResultTimeout {
                    queue: queue.to_string(),
                    id: id.to_string(),
                    waited: timeout,
                    state: job.map_or("gone".to_string(), |j| {
                        format!("{:?}", j.state).to_lowercase()
                    }),
                });
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    /// Removes up to `limit` of `queue`'s completed or failed jobs (`state`) that finished more
    /// than `older_than` ago, oldest first, and returns how many it removed.
    pub async fn clean(
        &self,
        queue: &str,
        state: JobState,
        older_than: Duration,
        limit: usize,
    ) -> Result<usize> {
        crate::job::validate_name("queue name", queue)?;
        if !matches!(state, JobState::Completed | JobState::Failed) {
            return Err(Error::InvalidQuery {
                reason: format!(
                    "only completed and failed jobs can be cleaned, not {state:?} ones"
                ),
            });
        }
        let retention = self.retention()?;
        // A sharded queue's shards, one after the other, within the one limit.
        let mut removed = 0;
        for name in self.storage_queues(queue).await? {
            if removed >= limit {
                break;
            }
            removed += retention
                .clean(&name, state, older_than, limit - removed)
                .await?;
        }
        Ok(removed)
    }
}
