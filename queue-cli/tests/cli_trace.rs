//! A job whose payload carries a trace context (dispatched with queue-core's `otel` feature),
//! stored in a real redis-server: `show` and `jobs` print its JSON alone and name its
//! `traceparent`; a job without one shows none.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod common;

use common::queue;
use queue_core::{NewJob, Queue};
use serde_json::json;
use support::RedisServer;

use queue_redis as _;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn show_and_jobs_print_the_json_and_the_traceparent_apart() {
    let server = RedisServer::start();
    let url = server.url();
    let url = Some(url.as_str());
    let q = Queue::connect(&server.url()).await.unwrap();
    // Stored as a dispatch with the feature stores it.
    let carried = format!("\u{1e}traceparent={PARENT}\u{1e}{{\"to\":\"a@example.com\"}}");
    let jobs = vec![
        NewJob::named("send_mail", carried.into_bytes())
            .queue("mail")
            .id("traced-1"),
        NewJob::named("send_mail", br#"{"to":"b@example.com"}"#.to_vec())
            .queue("mail")
            .id("plain-1"),
    ];
    q.driver().enqueue(jobs).await.unwrap();

    let shown = queue(url, &["show", "traced-1", "--queue", "mail", "--json"])
        .ok()
        .json();
    assert_eq!(shown["payload"], json!({ "to": "a@example.com" }));
    assert_eq!(shown["traceparent"], PARENT);
    let text = queue(url, &["show", "traced-1", "--queue", "mail"])
        .ok()
        .stdout;
    assert!(text.contains(&format!("traceparent  {PARENT}\n")), "{text}");
    assert!(
        text.ends_with("payload\n{\n  \"to\": \"a@example.com\"\n}\n"),
        "{text}"
    );

    let plain = queue(url, &["show", "plain-1", "--queue", "mail", "--json"])
        .ok()
        .json();
    assert_eq!(plain["payload"], json!({ "to": "b@example.com" }));
    assert!(plain["traceparent"].is_null(), "{plain}");
    let text = queue(url, &["show", "plain-1", "--queue", "mail"])
        .ok()
        .stdout;
    assert!(!text.contains("traceparent"), "{text}");

    let listed = queue(
        url,
        &["jobs", "--state", "ready", "--queue", "mail", "--json"],
    )
    .ok()
    .json();
    let payloads: Vec<_> = listed["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|job| job["payload"].clone())
        .collect();
    assert_eq!(
        payloads,
        [
            json!({ "to": "a@example.com" }),
            json!({ "to": "b@example.com" })
        ]
    );
}
