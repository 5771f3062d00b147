//! An image pipeline as a workflow: fetch, resize three ways at once, publish once all three
//! are done. Each step's result reaches the steps after it, typed, through the context.
//!
//! `cargo run -p example-pipeline` runs it on the in-memory driver; with
//! `QUEUE_URL=redis://127.0.0.1:6379` on Redis. It dispatches the workflow, runs a worker
//! until the workflow ended, and prints each step's state and the published URLs.

mod jobs;

use std::time::Duration;

use queue_core::Queue;
// Link the drivers so `Queue::connect` finds them by URL scheme.
use queue_memory as _;
use queue_redis as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::from_env().await?;
    let id = queue
        .dispatch_workflow(jobs::pipeline("https://example.com/cat.png"))
        .await?;
    println!("dispatched workflow {id}");
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["fetch", "resize", "publish"])
            .run_until(stop.clone().cancelled_owned()),
    );
    let info = queue.wait_workflow(&id, Duration::from_secs(60)).await?;
    stop.cancel();
    worker.await??;
    for step in queue.workflow_steps(&id, 0, 100).await? {
        println!("step {:<9} {:?}", step.name, step.state);
    }
    let steps = queue.workflow_steps(&id, 0, 100).await?;
    if let Some(result) = steps
        .iter()
        .find(|s| s.name == "publish")
        .and_then(|s| s.result.clone())
    {
        let urls: Vec<String> = serde_json::from_slice(&result)?;
        for url in urls {
            println!("published {url}");
        }
    }
    println!(
        "workflow {:?}: {} of {} steps succeeded in {:?}",
        info.state,
        info.succeeded,
        info.total,
        info.elapsed()
    );
    Ok(())
}
