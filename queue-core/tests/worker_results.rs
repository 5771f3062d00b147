//! Handlers that keep what they did: results read back and awaited, completed jobs kept, a
//! result that cannot be kept, and awaiting a job that fails.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use queue_core::testing::HotPathOnly;
use queue_core::{job, Error, JobError, JobState, Keep, Queue};
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

#[job(queue = "results-override")]
async fn plain(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_can_keep_what_a_handler_does_not() {
    let queue = memory_queue();
    let ids: Vec<_> = queue
        .dispatch_bulk((0..4).map(plain::job))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let keep = Keep {
        completed: 3,
        ..Keep::default()
    };
    let worker = start(queue.worker().handlers(["plain"]).keep("plain", keep));
    support::until_counts(&queue, "results-override", Duration::from_secs(10), |c| {
        c.completed == 3 && c.ready == 0 && c.active == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    // Three of the four are kept (which ones depends on the order their runs ended).
    let mut kept = 0;
    for id in &ids {
        if let Some(job) = queue.job("results-override", id).await.unwrap() {
            assert_eq!(job.state, JobState::Completed);
            kept += 1;
        }
    }
    assert_eq!(kept, 3);
}

#[tokio::test]
async fn a_worker_that_must_keep_refuses_a_driver_that_cannot() {
    let queue = Queue::new(Arc::new(HotPathOnly(queue_memory::MemoryDriver::new())));
    let refused = queue.worker().handlers(["make_thumbnail"]).build();
    match refused {
        Err(Error::Unsupported { capability, driver }) => {
            assert!(
                capability.contains("keeping completed jobs"),
                "{capability}"
            );
            assert!(driver.contains("make_thumbnail"), "{driver}");
        }
        other => panic!("expected the worker to refuse: {other:?}"),
    }
    // Handlers that keep nothing run there.
    assert!(queue.worker().handlers(["plain"]).build().is_ok());
    let result = queue.result::<u32>("results", &"1".into()).await;
    assert!(
        matches!(result, Err(Error::Unsupported { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_keep_override_the_handler_cannot_honour_is_refused() {
    let queue = memory_queue();
    let results = Keep {
        result_for: Some(Duration::from_secs(60)),
        ..Keep::default()
    };
    let refused = queue
        .worker()
        .handlers(["plain"])
        .keep("plain", results)
        .build();
    assert!(
        matches!(&refused, Err(Error::InvalidConfig { reason }) if reason.contains("keep_result")),
        "{refused:?}"
    );
    let unknown = queue.worker().keep("nope", Keep::default()).build();
    assert!(
        matches!(&unknown, Err(Error::InvalidConfig { reason }) if reason.contains("`nope`")),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaiting_a_job_that_keeps_no_result_ends_at_once() {
    let queue = memory_queue();
    let keep = Keep {
        completed: 10,
        ..Keep::default()
    };
    let worker = start(queue.worker().handlers(["plain"]).keep("plain", keep));
    let id = plain::dispatch(&queue, 1).await.unwrap().id;
    support::until_counts(&queue, "results-override", Duration::from_secs(10), |c| {
        c.completed >= 1
    })
    .await;
    worker.shutdown().await.unwrap();
    let waited = queue
        .wait_result::<serde_json::Value>("results-override", &id, Duration::from_secs(3600))
        .await;
    assert!(
        matches!(&waited, Err(Error::NoResult { reason, .. }) if reason.contains("completed")),
        "{waited:?}"
    );
    let gone = queue
        .wait_result::<serde_json::Value>(
            "results-override",
            &"999".into(),
            Duration::from_secs(3600),
        )
        .await;
    assert!(matches!(&gone, Err(Error::NoResult { .. })), "{gone:?}");
}

#[job(queue = "results-trim", attempts = 1)]
async fn fails_once(_n: u32) -> Result<(), JobError> {
    Err(JobError::msg("broken for good"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_past_their_age_are_removed() {
    let queue = memory_queue();
    let worker = start(
        queue
            .worker()
            .handlers(["fails_once"])
            .trim_failed_after(Duration::from_millis(200))
            .heartbeat_every(Duration::from_millis(20)),
    );
    let id = fails_once::dispatch(&queue, 1).await.unwrap().id;
    // It fails, is listed as failed for a while, then goes once it is past the age.
    let failed = support::until_counts(&queue, "results-trim", Duration::from_secs(10), |c| {
        c.failed == 1
    })
    .await;
    assert_eq!(failed.failed, 1);
    support::until_counts(&queue, "results-trim", Duration::from_secs(10), |c| {
        c.failed == 0
    })
    .await;
    assert!(queue.job("results-trim", &id).await.unwrap().is_none());
    worker.shutdown().await.unwrap();

    let refused = Queue::new(Arc::new(HotPathOnly(queue_memory::MemoryDriver::new())))
        .worker()
        .handlers(["fails_once"])
        .trim_failed_after(Duration::from_secs(60))
        .build();
    assert!(
        matches!(refused, Err(Error::Unsupported { .. })),
        "{refused:?}"
    );
}
