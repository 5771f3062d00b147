//! Handlers that keep what they did: results read back and awaited, completed jobs kept, a
//! result that cannot be kept, and awaiting a job that fails.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use queue_core::{job, Error, JobError, JobState};
use serde::{Deserialize, Serialize};
use support::{memory_queue, start};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Thumbnail {
    width: u32,
    path: String,
}

#[job(queue = "results", keep_result = "1h", keep_completed = 10)]
async fn make_thumbnail(width: u32) -> Result<Thumbnail, JobError> {
    Ok(Thumbnail {
        width,
        path: format!("/thumbs/{width}.png"),
    })
}

/// Its `Ok` value has tuple keys, which JSON cannot hold.
#[job(queue = "results", keep_result = "1h")]
async fn unkeepable(_n: u32) -> Result<HashMap<(u8, u8), u8>, JobError> {
    Ok(HashMap::from([((1, 2), 3)]))
}

#[job(queue = "results", keep_result = "1h", attempts = 1)]
async fn always_broken(_n: u32) -> Result<u32, JobError> {
    Err(JobError::msg("the disk is full"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_kept_and_awaited() {
    let queue = memory_queue();
    let worker = start(
        queue
            .worker()
            .handlers(["make_thumbnail", "unkeepable", "always_broken"]),
    );
    let id = make_thumbnail::dispatch(&queue, 320).await.unwrap().id;
    let thumb: Thumbnail = queue
        .wait_result("results", &id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        thumb,
        Thumbnail {
            width: 320,
            path: "/thumbs/320.png".into()
        }
    );
    let any: serde_json::Value = queue.result("results", &id).await.unwrap().unwrap();
    assert_eq!(any["width"], 320);
    let info = queue.job("results", &id).await.unwrap().expect("kept");
    assert_eq!(info.state, JobState::Completed);
    assert!(info.finished_at.is_some());
    assert_eq!(
        info.result.as_deref(),
        Some(&br#"{"width":320,"path":"/thumbs/320.png"}"#[..])
    );

    // A value that does not serialize fails the job for good, saying why.
    let bad = unkeepable::dispatch(&queue, 1).await.unwrap().id;
    let waited = queue
        .wait_result::<serde_json::Value>("results", &bad, Duration::from_secs(10))
        .await;
    match waited {
        Err(Error::JobFailed { error, .. }) => {
            assert!(error.contains("could not be kept"), "{error}")
        }
        other => panic!("expected the job to fail: {other:?}"),
    }

    let broken = always_broken::dispatch(&queue, 1).await.unwrap().id;
    let waited = queue
        .wait_result::<u32>("results", &broken, Duration::from_secs(10))
        .await;
    assert!(
        matches!(&waited, Err(Error::JobFailed { error, .. }) if error == "the disk is full"),
        "{waited:?}"
    );
    worker.shutdown().await.unwrap();

    // Nobody runs this one: the wait ends with the job's state.
    let pending = make_thumbnail::dispatch(&queue, 640).await.unwrap().id;
    let waited = queue
        .wait_result::<Thumbnail>("results", &pending, Duration::from_millis(50))
        .await;
    assert!(
        matches!(&waited, Err(Error::ResultTimeout { state, .. }) if state == "ready"),
        "{waited:?}"
    );
}
