//! The dashboard through its router on the memory driver, without a browser: escaping, CSRF,
//! read-only mode, authentication, listening, the JSON API and mounting under a prefix.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use queue_core::{JobState, Queue};
use queue_memory::MemoryDriver;
use support::fixture::{fill, Fixture, HTML_PAYLOAD, QUEUE};
use support::http::{form, form_from, get, send, token_in};

async fn setup() -> (Queue, Fixture) {
    let queue = Queue::new(Arc::new(MemoryDriver::new()));
    let fixture = fill(&queue).await;
    (queue, fixture)
}

/// Every page of the fixture's queue, with the job pages of `fixture`'s jobs.
fn pages(f: &Fixture) -> Vec<String> {
    vec![
        "/".into(),
        format!("/queues/{QUEUE}"),
        format!("/queues/{QUEUE}/jobs?state=failed"),
        format!("/queues/{QUEUE}/jobs?state=ready"),
        format!("/queues/{QUEUE}/jobs?state=completed"),
        format!("/jobs/{QUEUE}/{}", f.failed),
        format!("/jobs/{QUEUE}/{}", f.html),
        format!("/jobs/{QUEUE}/{}", f.active),
        "/failed".into(),
        "/workers".into(),
        "/schedules".into(),
    ]
}

/// Every action path of the fixture.
fn actions(f: &Fixture) -> Vec<String> {
    let mut all = vec![
        format!("/queues/{QUEUE}/pause"),
        format!("/queues/{QUEUE}/resume"),
        format!("/queues/{QUEUE}/retry-failed"),
        format!("/queues/{QUEUE}/clean"),
        format!("/queues/{QUEUE}/purge"),
        format!("/queues/{QUEUE}/jobs/bulk"),
        format!("/jobs/{QUEUE}/{}/retry", f.failed),
        format!("/jobs/{QUEUE}/{}/delete", f.failed),
        format!("/jobs/{QUEUE}/{}/cancel", f.ready),
        format!("/schedules/{QUEUE}/nightly/trigger"),
        format!("/schedules/{QUEUE}/nightly/pause"),
        format!("/schedules/{QUEUE}/nightly/resume"),
    ];
    let api: Vec<String> = all.iter().map(|p| format!("/api{p}")).collect();
    all.extend(api);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_payloads_and_errors_is_escaped_everywhere() {
    let (queue, f) = setup().await;
    let router = queue_web::router(queue);
    let escaped = "&lt;script&gt;window.__xss = 1&lt;/script&gt;";
    for path in pages(&f) {
        let page = get(&router, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {page:#?}");
        assert!(
            !page.body.contains("<script>window"),
            "{path} holds raw HTML"
        );
        assert!(!page.body.contains("<img src=x"), "{path} holds raw HTML");
        assert!(page.body.starts_with("<!DOCTYPE html>"), "{path}");
    }
    let job = get(&router, &format!("/jobs/{QUEUE}/{}", f.html)).await;
    assert!(
        job.body.contains(escaped),
        "payload shown as text: {}",
        job.body
    );
    assert!(
        job.body.contains("boom: &lt;script&gt;"),
        "error shown as text"
    );
    let failed = get(&router, "/failed").await;
    assert!(
        failed.body.contains("boom: &lt;script&gt;"),
        "error shown as text"
    );
    // Only the dashboard's own script may run.
    let csp = job.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let _ = HTML_PAYLOAD;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_the_csrf_token_and_the_same_origin() {
    let (queue, f) = setup().await;
    let router = queue_web::router(queue.clone());
    let token = token_in(&get(&router, &format!("/queues/{QUEUE}")).await.body);
    let pause = format!("/queues/{QUEUE}/pause");
    let refused = [
        form(&pause).body(Body::from("back=/")).unwrap(),
        form(&pause).body(Body::from("csrf=wrong")).unwrap(),
        form_from(&pause, "http://evil.example", "cross-site")
            .body(Body::from(format!("csrf={token}")))
            .unwrap(),
        // An Origin of another site, even where Sec-Fetch-Site is absent or says otherwise.
        form_from(&pause, "http://evil.example", "same-origin")
            .body(Body::from(format!("csrf={token}")))
            .unwrap(),
        form_from(&pause, "http://127.0.0.1:8080", "same-site")
            .body(Body::from(format!("csrf={token}")))
            .unwrap(),
        Request::post(format!("/api{pause}"))
            .header("x-csrf-token", "wrong")
            .body(Body::empty())
            .unwrap(),
    ];
    for request in refused {
        let answer = send(&router, request).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:#?}");
        assert!(!queue.counts(QUEUE).await.unwrap().paused);
    }
    let answer = send(
        &router,
        form(&pause)
            .body(Body::from(format!("csrf={token}&back=%2Fqueues%2Fweb")))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:#?}");
    assert_eq!(answer.location(), "/queues/web?notice=queue+web+paused");
    assert!(queue.counts(QUEUE).await.unwrap().paused);
    // A redirect never leaves the dashboard.
    let answer = send(
        &router,
        form(&format!("/queues/{QUEUE}/resume"))
            .body(Body::from(format!("csrf={token}&back=%2F%2Fevil.example")))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.location(), "/?notice=queue+web+resumed");
    // The API takes the token from `GET /api`, in a header.
    let index = get(&router, "/api").await.json();
    let api_token = index["csrf_token"].as_str().unwrap();
    let answer = send(
        &router,
        Request::post(format!("/api/jobs/{QUEUE}/{}/retry", f.failed))
            .header("x-csrf-token", api_token)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:#?}");
    assert_eq!(answer.json()["ok"], true);
    let job = queue.job(QUEUE, &f.failed).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_hides_and_refuses_every_action() {
    let (queue, f) = setup().await;
    let router = queue_web::Dashboard::new(queue.clone())
        .read_only(true)
        .router();
    for path in pages(&f) {
        let page = get(&router, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("method=\"post\""),
            "{path} offers an action"
        );
        assert!(
            !page.body.contains("name=\"csrf\""),
            "{path} carries a token"
        );
    }
    assert_eq!(
        get(&router, "/api").await.json()["csrf_token"],
        serde_json::Value::Null
    );
    for path in actions(&f) {
        let request = form(&path)
            .body(Body::from("confirm=web&op=delete&id=1"))
            .unwrap();
        let answer = send(&router, request).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}: {answer:#?}");
        assert!(answer.body.contains("read-only"), "{path}: {}", answer.body);
    }
    let counts = queue.counts(QUEUE).await.unwrap();
    assert_eq!(
        (counts.failed, counts.paused),
        (2, false),
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_the_application_s_own_layer_are_required() {
    let queue = Queue::new(Arc::new(MemoryDriver::new()));
    let protected =
        queue_web::Credentials::Bearer("s3cret".into()).protect(queue_web::router(queue.clone()));
    let answer = get(&protected, "/").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
    let request = |auth: &str| {
        Request::get("/api/overview")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&protected, request("Bearer nope")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&protected, request("Bearer s3cret")).await.status,
        StatusCode::OK
    );

    // An application mounts the dashboard under its own path, behind its own layer.
    let app = Router::new()
        .nest("/admin/jobs", queue_web::router(queue))
        .layer(axum::middleware::from_fn(
            |request: axum::extract::Request, next: axum::middleware::Next| async move {
                if request.headers().contains_key("x-staff") {
                    next.run(request).await
                } else {
                    axum::response::IntoResponse::into_response(StatusCode::FORBIDDEN)
                }
            },
        ));
    assert_eq!(
        get(&app, "/admin/jobs/").await.status,
        StatusCode::FORBIDDEN
    );
    let page = send(
        &app,
        Request::get("/admin/jobs/failed")
            .header("x-staff", "1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("href=\"/admin/jobs/workers\""),
        "links under the mount point"
    );
    assert!(
        page.body.contains("href=\"/admin/jobs/assets/"),
        "assets under the mount point"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_server_refuses_to_listen_beyond_loopback_without_credentials() {
    let queue = Queue::new(Arc::new(MemoryDriver::new()));
    for open in ["0.0.0.0:0", "[::]:0"] {
        let error = queue_web::serve(
            queue_web::router(queue.clone()),
            open.parse().unwrap(),
            None,
            |_| panic!("it must not listen"),
            async {},
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, queue_web::ServeError::Unprotected(_)),
            "{error}"
        );
        assert!(error.to_string().contains("QUEUE_WEB_TOKEN"), "{error}");
    }
    // Served on loopback without credentials, it answers only loopback names: a page of
    // another site whose name resolves here (DNS rebinding) gets nothing.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let shutdown = stop.clone().cancelled_owned();
    let server = tokio::spawn(queue_web::serve(
        queue_web::router(queue.clone()),
        "127.0.0.1:0".parse().unwrap(),
        None,
        move |addr| tx.send(addr).unwrap(),
        shutdown,
    ));
    let addr = rx.await.unwrap();
    let status_for = |host: String| {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            write!(
                stream,
                "GET /api/overview HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer[9..12].to_string()
        })
    };
    assert_eq!(status_for(format!("{addr}")).await.unwrap(), "200");
    assert_eq!(
        status_for(format!("localhost:{}", addr.port()))
            .await
            .unwrap(),
        "200"
    );
    assert_eq!(
        status_for(format!("rebound.example:{}", addr.port()))
            .await
            .unwrap(),
        "421"
    );
    stop.cancel();
    server.await.unwrap().unwrap();

    // Loopback needs none; with credentials, any address is allowed.
    queue_web::check_listen("127.0.0.1:8080".parse().unwrap(), None).unwrap();
    let token = queue_web::Credentials::Bearer("t".into());
    queue_web::check_listen("0.0.0.0:8080".parse().unwrap(), Some(&token)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_serves_what_the_pages_show() {
    let (queue, f) = setup().await;
    let router = queue_web::router(queue.clone());
    let o = get(&router, "/api/overview").await.json();
    let web = &o["queues"][0];
    assert_eq!(web["name"], QUEUE);
    assert_eq!(web["counts"]["failed"], 2);
    assert_eq!(web["counts"]["completed"], 3);
    assert_eq!(web["counts"]["ready"], 1);
    assert_eq!(web["counts"]["scheduled"], 1);
    assert_eq!(web["counts"]["active"], 1);
    assert_eq!(web["depth"], 3);
    assert_eq!(o["workers"], 1);
    assert_eq!(o["chart"].as_array().unwrap().len(), 60);
    let done: u64 = o["chart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["runs"]["completed"].as_u64().unwrap())
        .sum();
    assert_eq!(done, 3);

    let q = get(&router, &format!("/api/queues/{QUEUE}")).await.json();
    assert_eq!(q["counts"]["paused"], false);
    let lanes: Vec<&str> = q["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(
        lanes.contains(&"explode") && lanes.contains(&"hold"),
        "{lanes:?}"
    );

    let page = get(
        &router,
        &format!("/api/queues/{QUEUE}/jobs?state=failed&limit=1"),
    )
    .await
    .json();
    assert_eq!(page["state"], "failed");
    assert_eq!(page["total"], 2);
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    let cursor = page["next"].as_str().expect("a next page");
    let next = get(
        &router,
        &format!(
            "/api/queues/{QUEUE}/jobs?state=failed&limit=1&cursor={}",
            seg(cursor)
        ),
    )
    .await
    .json();
    assert_eq!(next["jobs"].as_array().unwrap().len(), 1);
    assert_ne!(next["jobs"][0]["id"], page["jobs"][0]["id"]);
    let bad = get(&router, &format!("/api/queues/{QUEUE}/jobs?state=lost")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"]
        .as_str()
        .unwrap()
        .contains("unknown state `lost`"));

    let job = get(&router, &format!("/api/jobs/{QUEUE}/{}", f.failed))
        .await
        .json();
    assert_eq!(job["state"], "failed");
    assert_eq!(job["last_error"], "boom: the disk is full");
    assert_eq!(job["errors"][0]["attempt"], 1);
    assert!(job["payload"]
        .as_str()
        .unwrap()
        .contains("\"why\": \"the disk is full\""));
    let active = get(&router, &format!("/api/jobs/{QUEUE}/{}", f.active))
        .await
        .json();
    assert!(active["held_by"].is_string(), "{active}");
    assert_eq!(active["progress"]["step"], 1);
    assert_eq!(
        get(&router, &format!("/api/jobs/{QUEUE}/nope"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&router, "/api/queues/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let failed = get(&router, "/api/failed").await.json();
    assert_eq!(failed["queues"][0]["failed"], 2);
    let workers = get(&router, "/api/workers").await.json();
    let lane = &workers["workers"][0]["lanes"][0];
    assert_eq!(lane["job"], "hold");
    assert_eq!(lane["jobs"][0], f.active.to_string());
    let schedules = get(&router, "/api/schedules").await.json();
    assert_eq!(schedules["schedules"][0]["name"], "nightly");
    assert!(schedules["schedules"][0]["next_tick"].is_string());

    // Actions through the API: bulk delete of everything matching, purge with its confirmation.
    let token = get(&router, "/api").await.json()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let post = |path: String, body: serde_json::Value| {
        Request::post(path)
            .header("x-csrf-token", token.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let answer = send(
        &router,
        post(
            format!("/api/queues/{QUEUE}/jobs/bulk"),
            serde_json::json!({"op": "retry", "id": [f.html.to_string()]}),
        ),
    )
    .await;
    assert_eq!(
        answer.json()["message"],
        "1 jobs of web moved back to ready"
    );
    let answer = send(
        &router,
        post(
            format!("/api/queues/{QUEUE}/jobs/bulk"),
            serde_json::json!({"op": "delete", "scope": "matching", "state": "failed"}),
        ),
    )
    .await;
    assert_eq!(answer.json()["message"], "1 jobs of web deleted");
    let answer = send(
        &router,
        post(
            format!("/api/schedules/{QUEUE}/nightly/trigger"),
            serde_json::json!({}),
        ),
    )
    .await;
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("schedule nightly triggered"),
        "{answer:#?}"
    );
    let answer = send(
        &router,
        post(
            format!("/api/queues/{QUEUE}/purge"),
            serde_json::json!({"confirm": "other"}),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(queue.counts(QUEUE).await.unwrap().failed, 0);
    assert!(queue.counts(QUEUE).await.unwrap().ready >= 2);
    let answer = send(
        &router,
        post(
            format!("/api/queues/{QUEUE}/purge"),
            serde_json::json!({"confirm": "web"}),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:#?}");
    assert_eq!(queue.counts(QUEUE).await.unwrap().ready, 0);
}

/// `text` percent-encoded for a query string.
fn seg(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_retry_a_selection_and_purge_only_when_the_name_is_typed() {
    let (queue, f) = setup().await;
    let router = queue_web::router(queue.clone());
    let jobs = get(&router, &format!("/queues/{QUEUE}/jobs?state=failed")).await;
    let token = token_in(&jobs.body);
    assert!(jobs
        .body
        .contains(&format!("name=\"id\" value=\"{}\"", f.failed)));
    let body = format!(
        "csrf={token}&back=%2Fqueues%2Fweb%2Fjobs%3Fstate%3Dfailed&state=failed&op=retry&id={}&id={}",
        f.failed, f.html
    );
    let answer = send(
        &router,
        form(&format!("/queues/{QUEUE}/jobs/bulk"))
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:#?}");
    assert_eq!(
        answer.location(),
        "/queues/web/jobs?state=failed&notice=2+jobs+of+web+moved+back+to+ready"
    );
    let page = get(&router, answer.location()).await;
    assert!(
        page.body.contains("2 jobs of web moved back to ready"),
        "the notice is shown"
    );
    assert!(
        page.body.contains("No jobs here."),
        "the failed list is empty"
    );
    assert_eq!(queue.counts(QUEUE).await.unwrap().failed, 0);

    let purge = format!("/queues/{QUEUE}/purge");
    let answer = send(
        &router,
        form(&purge)
            .body(Body::from(format!("csrf={token}&confirm=wbe")))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("type the queue&#39;s name")
            || answer.body.contains("type the queue's name"),
        "{}",
        answer.body
    );
    assert!(
        queue.counts(QUEUE).await.unwrap().ready > 0,
        "nothing purged"
    );
    let answer = send(
        &router,
        form(&purge)
            .body(Body::from(format!("csrf={token}&confirm=web")))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(queue.counts(QUEUE).await.unwrap().ready, 0, "purged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_queue_shows_the_figures_of_its_shards_together() {
    let driver = Arc::new(MemoryDriver::new());
    let app = Queue::new(driver.clone()).shard("spread_job", 3).unwrap();
    for n in 0..6 {
        app.dispatch_named("spread_job", serde_json::json!({ "n": n }))
            .queue("spread")
            .await
            .unwrap();
    }
    let recorder = app.driver().stats().expect("statistics");
    let minute = queue_core::unix_minute(std::time::SystemTime::now());
    for index in 0..3u16 {
        let lane =
            queue_core::Lane::new(&queue_core::shard_queue("spread", index, 3), "spread_job")
                .unwrap();
        let runs = queue_core::RunCounts::new(u64::from(index) + 1, 0, 0);
        recorder.record(&lane, minute, runs).await.unwrap();
    }
    // The dashboard's own handle knows nothing of the shards: it finds them in storage.
    let router = queue_web::router(Queue::new(driver));
    let o = get(&router, "/api/overview").await.json();
    let queues = o["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1, "the queue is listed once: {o}");
    assert_eq!(queues[0]["name"], "spread");
    assert_eq!(queues[0]["depth"], 6);
    assert!(queues[0]["oldest_ready"].is_string(), "{o}");
    let done: u64 = o["chart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["runs"]["completed"].as_u64().unwrap())
        .sum();
    assert_eq!(done, 6, "the shards' minutes added up");

    let q = get(&router, "/api/queues/spread").await.json();
    assert_eq!(q["counts"]["ready"], 6);
    let lanes = q["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 1, "{q}");
    assert_eq!(lanes[0]["name"], "spread_job");
    assert_eq!(lanes[0]["counts"]["ready"], 6);
    assert_eq!(lanes[0]["runs"]["completed"], 6);
    assert!(q["oldest_ready"].is_string(), "{q}");
}
