//! Cancelling a job: a waiting one is removed, a running one loses its lease and is kept in
//! the failed list as cancelled.

use queue_core::{CancelOutcome, JobId, JobState, CANCELLED_ERROR};

use super::QueueState;

impl QueueState {
    pub(crate) fn cancel(&mut self, id: &JobId) -> CancelOutcome {
        let Some(key) = self.jobs.key_of(id) else {
            return CancelOutcome::NotFound;
        };
        let Some(record) = self.jobs.get_mut(key) else {
            return CancelOutcome::NotFound;
        };
        match record.state {
            JobState::Ready | JobState::Scheduled => {
                self.remove(id);
                CancelOutcome::Removed
            }
            JobState::Active => {
                // The lease ends here: renewals, acks and failures of the run are refused.
                let index = (record.at, record.token);
                record.token = 0;
                let attempt = record.attempts;
                let details = record.details();
                details.cancelled = true;
                // Its run may go on until its worker's next renewal, at the latest until the
                // lease ends: a retry waits for that.
                details.revoked_until = Some(index.0);
                self.lanes[record.lane as usize].active.remove(&index);
                self.move_to_failed(key, attempt, CANCELLED_ERROR.to_string());
                CancelOutcome::Stopped
            }
            _ => CancelOutcome::Finished,
        }
    }
}
