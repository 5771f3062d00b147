#![deny(warnings)]

use queue_core::{job, JobError, Queue};

#[job(queue = "maintenance")]
pub async fn cleanup() -> Result<(), JobError> {
    Ok(())
}

#[allow(dead_code)]
async fn use_it(queue: &Queue) -> queue_core::Result<()> {
    cleanup::dispatch(queue, ()).await?;
    queue
        .dispatch_bulk([cleanup::job(()), cleanup::job(())])
        .await?;
    cleanup().await.unwrap();
    Ok(())
}

fn main() {
    let _: cleanup::Payload = ();
}
