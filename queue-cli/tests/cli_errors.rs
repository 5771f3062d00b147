//! Bad input and unreachable or locked storage: one `error:` line naming the problem, a
//! non-zero exit, and never the URL's password.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod common;

use common::{queue, queue_with_env};
use support::RedisServer;

const MEMORY_NOTE: &str = "note: memory:// keeps jobs inside one process only";

#[test]
fn memory_url_works_and_says_it_sees_only_its_own_process() {
    let run = queue(None, &["stats", "--json"]).ok();
    assert!(run.stderr.starts_with(MEMORY_NOTE), "{run:#?}");
    assert_eq!(run.json(), serde_json::json!({ "queues": [] }));
    let run = queue(Some("memory://"), &["queues"]).ok();
    assert!(run.stderr.starts_with(MEMORY_NOTE), "{run:#?}");
    assert_eq!(run.stdout, "no queues\n");
}

#[test]
fn bad_input_is_one_line_naming_it() {
    let line = queue(None, &["show", "7", "--queue", "mail"]).error_line(1);
    assert_eq!(
        line,
        "error: unknown queue `mail`: the storage holds no queues"
    );
    let line = queue(None, &["show", "7"]).error_line(1);
    assert_eq!(
        line,
        "error: job `7` not found: the storage holds no queues"
    );

    let line = queue(None, &["dispatch", "send", r#"{"user": 7"#]).error_line(2);
    assert!(
        line.starts_with("error: payload is not valid JSON: "),
        "{line}"
    );
    assert!(line.contains("line 1 column 10"), "{line}");

    let line = queue(None, &["dispatch", "send", "{}", "--delay", "10 minutes"]).error_line(2);
    assert!(line.contains("`10 minutes` is not a duration"), "{line}");
    let line = queue(None, &["dispatch", "send", "{}", "--priority", "300"]).error_line(2);
    assert!(line.contains("300 is not in -128..=127"), "{line}");
    let line = queue(None, &["dispatch", "bad name", "{}"]).error_line(2);
    assert!(line.contains("invalid job name `bad name`"), "{line}");

    let line = queue(None, &["jobs", "--state", "ready", "--name", "a b"]).error_line(2);
    assert!(line.contains("invalid job name `a b`"), "{line}");
    let line = queue(None, &["jobs", "--state", "failed", "--cursor", "x"]).error_line(2);
    assert!(line.contains("invalid --cursor `x`"), "{line}");

    let line = queue(Some("nonsense"), &["stats"]).error_line(2);
    assert!(line.contains("invalid queue url `nonsense`"), "{line}");
}

#[test]
fn an_unreachable_server_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    // Nothing listens on the port once the listener is dropped.
    let url = format!("redis://app:topsecret@127.0.0.1:{port}/0");
    let run = queue(Some(&url), &["stats"]);
    let line = run.error_line(1);
    assert!(
        line.starts_with(&format!(
            "error: storage unavailable at `redis://app:***@127.0.0.1:{port}/0`"
        )),
        "{line}"
    );
    assert!(!run.stderr.contains("topsecret"), "{run:#?}");
}

#[test]
fn a_misplaced_url_is_not_echoed_with_its_password() {
    // The URL given where a command expects nothing: the usage error quotes it, masked.
    let run = queue(None, &["stats", "redis://app:topsecret@127.0.0.1:1/0"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr
            .contains("unexpected argument 'redis://app:***@127.0.0.1:1/0'"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("topsecret"), "{run:#?}");
}

#[test]
fn a_locked_server_never_shows_the_password() {
    let server = RedisServer::start_with(&["--requirepass", "right-pass"]);
    let port = server.port();

    let wrong_password = (1, "check the user name and password in the URL");
    for (url, (code, expected)) in [
        (
            format!("redis://:wrong-pass@127.0.0.1:{port}/0"),
            wrong_password,
        ),
        (
            format!("redis://default:wrong-pass@127.0.0.1:{port}/0"),
            wrong_password,
        ),
        // A `/` typed into the password: the URL does not parse, and the generic redaction
        // misreads where the host starts, so the command masks the password itself.
        (
            format!("redis://:wrong/pass@127.0.0.1:{port}/0"),
            (2, "error: invalid queue url `redis://:***@127.0.0.1"),
        ),
        (
            format!("redis://127.0.0.1:{port}/0"),
            (1, "the server requires a password"),
        ),
    ] {
        for run in [
            queue(Some(&url), &["stats"]),
            queue_with_env(&url, &["queues", "--json"]),
        ] {
            let line = run.error_line(code);
            assert!(line.contains(expected), "{url}: {line}");
            for secret in ["wrong-pass", "wrong/pass", "wrong%2Fpass"] {
                assert!(!run.stderr.contains(secret), "{url}: {run:#?}");
            }
        }
    }

    // The right password works.
    let url = format!("redis://:right-pass@127.0.0.1:{port}/0");
    let run = queue(Some(&url), &["queues", "--json"]).ok();
    assert_eq!(run.json(), serde_json::json!({ "queues": [] }));
    assert!(run.stderr.is_empty(), "{run:#?}");
}
