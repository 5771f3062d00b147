//! `queue cancel` as a real process against a real redis-server: a waiting job is removed, a
//! running one loses its lease and shows as cancelled, and what cannot be cancelled says why.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod common;

use std::time::Duration;

use common::queue;
use queue_core::{JobId, JobState, Lane, Queue};
use serde_json::json;
use support::RedisServer;

use queue_redis as _;

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn cancel_removes_waiting_jobs_and_stops_running_ones() {
    let server = RedisServer::start();
    let url = server.url();
    let q = Queue::connect(&url).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..2 {
        let job = q
            .dispatch_named("send_mail", json!({ "n": n }))
            .queue("mail")
            .await
            .unwrap();
        ids.push(job.id.to_string());
    }
    let lane = Lane::new("mail", "send_mail").unwrap();
    let run = q
        .driver()
        .reserve(&lane, 1, LEASE)
        .await
        .unwrap()
        .jobs
        .remove(0);
    assert_eq!(run.id.to_string(), ids[0]);
    let (running, waiting) = (ids[0].as_str(), ids[1].as_str());
    let url = Some(url.as_str());

    // A waiting job is removed.
    let out = queue(url, &["cancel", waiting, "--queue", "mail", "--json"]).ok();
    assert_eq!(
        out.json(),
        json!({ "queue": "mail", "id": waiting, "cancelled": "removed" })
    );
    assert!(q
        .job("mail", &JobId::from(waiting))
        .await
        .unwrap()
        .is_none());

    // A running job, found without --queue: its lease is revoked, and it shows as cancelled.
    let out = queue(url, &["cancel", running]).ok();
    assert_eq!(
        out.stdout,
        format!(
            "cancelled job {running} of queue `mail`: it was running: its worker stops it at its \
             next lease renewal, and it stays in the failed list as cancelled\n"
        )
    );
    let job = q.job("mail", &run.id).await.unwrap().expect("kept");
    assert_eq!(job.state, JobState::Cancelled);
    let held = q
        .driver()
        .renew(&lane, &[run.lease()], LEASE)
        .await
        .unwrap();
    assert_eq!(held, [false], "the run's lease is gone");
    let shown = queue(url, &["show", running, "--json"]).ok().json();
    assert_eq!(shown["state"], "cancelled");
    assert_eq!(shown["last_error"], "cancelled");

    // What cannot be cancelled says why.
    let line = queue(url, &["cancel", running, "--queue", "mail"]).error_line(1);
    assert_eq!(
        line,
        format!(
            "error: job `{running}` in queue `mail` already ended (cancelled); nothing to cancel"
        )
    );
    let line = queue(url, &["cancel", "nope-1", "--queue", "mail"]).error_line(1);
    assert_eq!(line, "error: job `nope-1` not found in queue `mail`");
    let line = queue(url, &["cancel", "nope-1"]).error_line(1);
    assert_eq!(
        line,
        "error: job `nope-1` not found in any queue (searched mail)"
    );
}
