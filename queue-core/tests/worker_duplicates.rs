//! Two handlers under one job name: the worker refuses to start and names both.

use queue_core::{job, JobError};

mod first {
    use super::*;
    #[job(name = "send_report")]
    pub(crate) async fn report_v1(_day: String) -> Result<(), JobError> {
        Ok(())
    }
}

mod second {
    use super::*;
    #[job(name = "send_report")]
    pub(crate) async fn report_v2(_day: String) -> Result<(), JobError> {
        Ok(())
    }
}

#[test]
fn duplicate_job_names_are_an_error_naming_both_handlers() {
    let queue = queue_core::Queue::new(std::sync::Arc::new(queue_memory::MemoryDriver::new()));
    let err = queue.worker().build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `send_report` is registered twice: by `worker_duplicates::first::report_v1` and by `worker_duplicates::second::report_v2`"
    );
    // The functions stay callable as written.
    let _ = (first::report_v1, second::report_v2);
}
