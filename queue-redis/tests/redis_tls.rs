//! `rediss://`: a TLS-only redis-server with a private CA, certificates made by `openssl`.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use queue_core::{NewJob, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use support::RedisServer;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is needed for the TLS test (Debian: `apt-get install openssl`)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A CA and a server certificate for 127.0.0.1 and localhost.
fn certificates(dir: &Path) {
    std::fs::write(
        dir.join("san.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=queue test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            "-out",
            "server.crt",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_urls_connect_over_tls_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("queue-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let server = RedisServer::start_tls(&path("server.crt"), &path("server.key"), &path("ca.crt"));
    let url = format!("rediss://127.0.0.1:{}/0", server.port());

    let mut options = RedisOptions::default();
    options.tls_root_cert = Some(std::fs::read(dir.join("ca.crt")).unwrap());
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
    let _ = std::fs::remove_dir_all(&dir);
}
