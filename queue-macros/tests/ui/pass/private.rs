#![deny(warnings)]

// A private payload type with a private handler: the generated items are as visible as the
// handler, so nothing is private in a public interface.
use queue_core::{job, JobError, Queue};

#[derive(serde::Serialize, serde::Deserialize)]
struct Secret {
    value: u64,
}

#[job]
async fn keep_secret(secret: Secret) -> Result<(), JobError> {
    let _ = secret.value;
    Ok(())
}

async fn dispatch_it(queue: &Queue) -> queue_core::Result<()> {
    keep_secret::dispatch(queue, Secret { value: 1 }).await?;
    queue
        .dispatch_bulk([keep_secret::job(Secret { value: 2 })])
        .await?;
    Ok(())
}

async fn call_it() -> Result<(), JobError> {
    keep_secret(Secret { value: 3 }).await
}

fn main() {
    let _ = dispatch_it;
    let _ = call_it;
    let _: keep_secret::Payload = Secret { value: 4 };
    let _ = (keep_secret::NAME, &keep_secret::DEFINITION);
}
