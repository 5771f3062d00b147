#![deny(warnings)]

use std::time::Duration;

use queue_core::{job, JobError, Queue};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Welcome {
    pub user_id: u64,
}

#[job]
pub async fn send_welcome(job: Welcome) -> Result<(), JobError> {
    let _ = job.user_id;
    Ok(())
}

#[allow(dead_code)]
async fn dispatch_some(queue: &Queue) -> queue_core::Result<()> {
    let dispatched = send_welcome::dispatch(queue, Welcome { user_id: 7 })
        .delay(Duration::from_secs(60))
        .priority(2)
        .await?;
    let _ = dispatched.id;
    queue
        .dispatch_bulk(vec![
            send_welcome::job(Welcome { user_id: 1 }),
            send_welcome::job(Welcome { user_id: 2 }).queue("other"),
        ])
        .await?;
    Ok(())
}

#[allow(dead_code)]
async fn call_directly() -> Result<(), JobError> {
    send_welcome(Welcome { user_id: 3 }).await
}

fn main() {
    let _: &str = send_welcome::NAME;
    let _: &queue_core::JobDefinition = &send_welcome::DEFINITION;
    let _: send_welcome::Payload = Welcome { user_id: 1 };
    let _: fn(Welcome) -> queue_core::NewJob = send_welcome::job;
}
