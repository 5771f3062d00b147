//! `rediss://`: a TLS-only redis-server with a private CA, certificates made by `openssl`.

mod support;

use std::sync::Arc;

use queue_core::{NewJob, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use support::{RedisServer, TlsFiles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_urls_connect_over_tls_with_a_private_ca() {
    let tls = Arc::new(TlsFiles::generate());
    let server = RedisServer::start_tls(&tls);
    let url = format!("rediss://127.0.0.1:{}/0", server.port());

    let mut options = RedisOptions::default();
    options.tls_root_cert = Some(tls.read("ca.crt"));
    let driver = RedisDriver::connect_with(&url, options)
        .await
        .expect("TLS connection");
    let queue = Queue::new(Arc::new(driver));
    let job = NewJob::named("tls_job", b"{}".to_vec()).queue("tls");
    queue.dispatch(job).await.unwrap();
    assert_eq!(queue.counts("tls").await.unwrap().ready, 1);

    // Without the private CA the server's certificate is refused: a clear connection error.
    let err = RedisDriver::connect(&url).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("storage unavailable at `{url}`")),
        "{err}"
    );
}
