//! The dashboard in a real browser (headless Chromium through chromedriver) over a real Redis
//! (its own redis-server on a free port, with a password): every page passes the
//! accessibility and validity check and shows no secret; a failed job is retried from its page;
//! a queue is paused and resumed; an HTML payload stays inert; read-only mode offers no action.
//! Each test saves screenshots in its output folder (`target/tmp/browser/<test>/`).

#[path = "../../queue-redis/tests/support/mod.rs"]
mod redis_support;
mod support;

use std::net::SocketAddr;

use queue_core::{JobState, Queue};
use redis_support::RedisServer;
use support::browser::Browser;
use support::fixture::{fill, Fixture, QUEUE};
use tokio_util::sync::CancellationToken;
// Link the Redis driver so `Queue::connect` finds it.
use queue_redis as _;

/// The Redis password; no page may show it.
const PASSWORD: &str = "pw-7f3a9c-not-for-pages";

/// A Redis-backed queue filled by the fixture, the dashboard serving it, and a browser.
struct Setup {
    queue: Queue,
    fixture: Fixture,
    browser: Browser,
    stop: CancellationToken,
    _server: RedisServer,
}

async fn setup(test: &str, read_only: bool) -> Setup {
    let server = RedisServer::start_with(&["--requirepass", PASSWORD]);
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}/0", server.port());
    let queue = Queue::connect(&url).await.expect("connect to Redis");
    let fixture = fill(&queue).await;
    let router = queue_web::Dashboard::new(queue.clone())
        .read_only(read_only)
        .hide(PASSWORD)
        .router();
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let shutdown = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        queue_web::serve(
            router,
            "127.0.0.1:0".parse().unwrap(),
            None,
            |addr| {
                let _ = tx.send(addr);
            },
            shutdown,
        )
        .await
        .expect("serve the dashboard");
    });
    let addr = rx.await.expect("the dashboard listens");
    let browser = Browser::start(addr, test).await;
    Setup {
        queue,
        fixture,
        browser,
        stop,
        _server: server,
    }
}

impl Setup {
    async fn finish(self) {
        self.browser.close().await;
        self.stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_overview_of_a_redis_queue_with_jobs_in_every_state() {
    let s = setup("overview", false).await;
    let b = &s.browser;
    b.open("/").await;
    b.wait_for("figure.chart svg").await;
    let page = b.source().await;
    for text in [
        "Done per minute",
        "Failed per minute",
        "Oldest waiting job",
        "Live workers",
        "Throughput, last hour",
    ] {
        assert!(page.contains(text), "overview shows {text}");
    }
    let row = b.text("tbody tr").await;
    // Queue, depth 3 (ready, scheduled, active), ready 1, scheduled 1, active 1, failed 2, completed 3.
    assert!(row.starts_with("web 3 1 1 1 2 3"), "queue row: {row}");
    b.screenshot("overview").await;
    // The page refreshes itself: a job dispatched now shows up without a reload.
    s.queue
        .dispatch_named("unserved", serde_json::json!({"to": "someone else"}))
        .queue(QUEUE)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !b.text("tbody tr").await.starts_with("web 4 2 1 1 2 3") {
        assert!(
            std::time::Instant::now() < deadline,
            "the overview did not refresh"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let f = &s.fixture;
    let pages = [
        "/".to_string(),
        format!("/queues/{QUEUE}"),
        format!("/queues/{QUEUE}/jobs?state=failed"),
        format!("/queues/{QUEUE}/jobs?state=completed"),
        format!("/jobs/{QUEUE}/{}", f.failed),
        format!("/jobs/{QUEUE}/{}", f.active),
        "/failed".into(),
        "/workers".into(),
        "/schedules".into(),
    ];
    for path in &pages {
        b.open(path).await;
        b.wait_for("main h1").await;
        b.check_page(path).await;
        assert!(
            !b.source().await.contains(PASSWORD),
            "{path} shows the Redis password"
        );
    }
    b.open(&format!("/jobs/{QUEUE}/{}", f.active)).await;
    let details = b.text("dl.details").await;
    assert!(details.contains("\"step\":1"), "progress shown: {details}");
    b.open("/workers").await;
    // The worker's row links the job it runs (found by its lease's token).
    b.wait_for(&format!(
        "section.worker a[href=\"/jobs/{QUEUE}/{}\"]",
        f.active
    ))
    .await;
    b.screenshot("workers").await;
    // A storage error shows no password either.
    b.open("/queues/ma%7Bil%7D").await;
    assert!(!b.source().await.contains(PASSWORD));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_retry_takes_a_failed_job_out_of_the_failed_list() {
    let s = setup("retry", false).await;
    let b = &s.browser;
    let id = s.fixture.failed.to_string();
    b.open("/failed").await;
    b.wait_for("section.failed-queue").await;
    let link = b
        .client
        .find(fantoccini::Locator::LinkText(&id))
        .await
        .expect("the failed job is listed");
    link.click().await.unwrap();
    let error = b.text("pre.error").await;
    assert_eq!(error, "boom: the disk is full");
    b.check_page("job page").await;
    b.screenshot("failed-job").await;
    b.press("Retry").await;
    b.wait_text("p.notice", &format!("job {id} moved back to ready"))
        .await;
    let state = s
        .queue
        .job(QUEUE, &s.fixture.failed)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, JobState::Ready);
    b.open("/failed").await;
    b.wait_for("main h1").await;
    let listed = |id: String| async move {
        let links = b
            .client
            .find_all(fantoccini::Locator::LinkText(&id))
            .await
            .unwrap();
        !links.is_empty()
    };
    assert!(
        !listed(id.clone()).await,
        "the retried job left the failed list"
    );
    assert!(
        listed(s.fixture.html.to_string()).await,
        "the other failure stays"
    );
    b.screenshot("after-retry").await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_pause_and_resume_a_queue() {
    let s = setup("pause", false).await;
    let b = &s.browser;
    b.open(&format!("/queues/{QUEUE}")).await;
    b.press("Pause queue").await;
    b.wait_text("p.notice", "queue web paused").await;
    assert!(s.queue.counts(QUEUE).await.unwrap().paused);
    b.wait_for("span.badge.warn").await;
    b.check_page("paused queue").await;
    b.screenshot("paused").await;
    b.press("Resume queue").await;
    b.wait_text("p.notice", "queue web resumed").await;
    assert!(!s.queue.counts(QUEUE).await.unwrap().paused);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_html_payload_is_inert() {
    let s = setup("html-payload", false).await;
    let b = &s.browser;
    for path in [
        format!("/jobs/{QUEUE}/{}", s.fixture.html),
        "/failed".into(),
        format!("/queues/{QUEUE}/jobs?state=failed"),
    ] {
        b.open(&path).await;
        b.wait_for("main h1").await;
        let ran = b.client.execute("return window.__xss === undefined && document.querySelectorAll('main img, main script').length === 0", vec![]).await.unwrap();
        assert_eq!(
            ran,
            serde_json::Value::Bool(true),
            "{path}: the payload ran or became elements"
        );
    }
    b.open(&format!("/jobs/{QUEUE}/{}", s.fixture.html)).await;
    let payload = b.text("pre.payload").await;
    assert!(
        payload.contains("<script>window.__xss = 1</script>"),
        "shown as text: {payload}"
    );
    b.screenshot("html-payload").await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_read_only_shows_no_action() {
    let s = setup("read-only", true).await;
    let b = &s.browser;
    let f = &s.fixture;
    for path in [
        "/".to_string(),
        format!("/queues/{QUEUE}"),
        format!("/queues/{QUEUE}/jobs?state=failed"),
        format!("/jobs/{QUEUE}/{}", f.failed),
        format!("/jobs/{QUEUE}/{}", f.ready),
        "/failed".into(),
        "/schedules".into(),
    ] {
        b.open(&path).await;
        b.wait_for("main h1").await;
        let actions = b
            .client
            .execute(
                "return document.querySelectorAll('form[method=post], input[type=checkbox]').length + \
                 [...document.querySelectorAll('main button')].filter(b => !b.form || b.form.method !== 'get').length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(actions, serde_json::json!(0), "{path} offers an action");
        b.check_page(&path).await;
    }
    b.open("/").await;
    b.wait_for("header .badge").await;
    b.screenshot("read-only").await;
    s.finish().await;
}
