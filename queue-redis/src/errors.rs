//! What a Redis error means for the caller: worth retrying or not, and whether the connection
//! that carried it must be replaced.
//!
//! Besides connectivity failures, Redis answers some commands with errors that pass by
//! themselves: `READONLY` (the server was demoted to a replica by a failover), `BUSY` (a script
//! or function is running), `LOADING` (the dataset is loading after a restart), `OOM` (memory is
//! at `maxmemory` under `noeviction`), `NOREPLICAS` (fewer replicas than `min-replicas-to-write`),
//! `MISCONF` (a failed snapshot stops writes), `MASTERDOWN`, `TRYAGAIN`, `CLUSTERDOWN`, also
//! when they made `EXEC` abort a transaction. All of them are
//! [retryable](queue_core::Error::is_retryable), so a worker keeps retrying its settlements
//! instead of dropping them.

use queue_core::Error;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Error codes of replies that pass by themselves.
const TRANSIENT_CODES: [&str; 10] = [
    "READONLY",
    "BUSY",
    "LOADING",
    "OOM",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    // A blocked command ended because the server changed role (master to replica).
    "UNBLOCKED",
    // Fewer replicas connected than `min-replicas-to-write` asks for: a primary cut off from
    // its replicas (behind Sentinel, about to be replaced by one of them).
    "NOREPLICAS",
    // A failed RDB save stops writes (`stop-writes-on-bgsave-error`) until a save succeeds.
    "MISCONF",
];

/// Redis's error code of `e` (`READONLY`, `OOM`...), also when a script passed it on, and for
/// a transaction that `EXEC` refused (`EXECABORT`) when every refusal was for a reason that
/// passes, the first one's code (its commands never ran, so sending it again is safe).
fn code(e: &RedisError) -> Option<&str> {
    if e.kind() == ErrorKind::Server(ServerErrorKind::ExecAbort) {
        if let Some(refused) = aborted_by(e) {
            return Some(refused);
        }
    }
    match e.code() {
        Some(code) if code != "ERR" => Some(code),
        // A script error may carry the code of the command that failed inside the script after
        // a generic prefix; look for a known code as a word of its text.
        _ => {
            let detail = e.detail()?;
            TRANSIENT_CODES.into_iter().find(|c| {
                detail
                    .split_whitespace()
                    .any(|w| w.trim_matches(|ch: char| !ch.is_ascii_alphabetic()) == *c)
            })
        }
    }
}

/// The passing code (one of [`TRANSIENT_CODES`]) that the first refused command of an aborted
/// transaction `e` was refused with; `None` when any command was refused for a reason that
/// does not pass (`NOPERM`, a wrong number of arguments...), which sending it again would
/// only meet again.
fn aborted_by(e: &RedisError) -> Option<&'static str> {
    let refused = e.clone().into_server_errors()?;
    passing_refusal(refused.iter().map(|(_, error)| error.code()))
}

/// The first of the `codes` that commands of an aborted transaction were refused with, when
/// every one of them is a passing code (see [`aborted_by`]).
fn passing_refusal<'a>(codes: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let mut passing = codes
        .into_iter()
        .map(|code| TRANSIENT_CODES.into_iter().find(|c| *c == code));
    let first = passing.next()??;
    passing.all(|code| code.is_some()).then_some(first)
}

/// True when the server answered `READONLY` (directly or from inside a script).
pub(crate) fn is_read_only(e: &RedisError) -> bool {
    code(e) == Some("READONLY")
}

/// True when the server is out of memory (`OOM` under `maxmemory`, directly or from a script).
pub(crate) fn is_out_of_memory(e: &RedisError) -> bool {
    code(e) == Some("OOM")
}

/// True when the connection that carried `e` cannot be trusted any more and must be replaced:
/// it timed out (the peer may be gone without a reset, e.g. a NAT that forgot the connection,
/// and a multiplexed connection would otherwise keep waiting on it), or the server behind it is
/// now a replica (after a failover, a new connection to the same address may reach the new
/// primary).
pub(crate) fn needs_new_connection(e: &RedisError) -> bool {
    e.is_timeout() || is_read_only(e)
}

/// True for the refusals that pass by themselves on a primary that is still the primary
/// (memory full, a script running, a cluster slot moving, a failed snapshot): no failover
/// explains them.
pub(crate) fn is_healthy_refusal(e: &RedisError) -> bool {
    matches!(
        code(e),
        Some("OOM" | "BUSY" | "TRYAGAIN" | "CLUSTERDOWN" | "MISCONF")
    )
}

/// True for errors that may go away if the same call is made again later.
pub(crate) fn is_transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || code(e).is_some_and(|c| TRANSIENT_CODES.contains(&c))
}

/// The crate error for a Redis error from the server at `url` (already redacted).
pub(crate) fn classify(url: &str, e: RedisError) -> Error {
    if is_out_of_memory(&e) {
        return Error::Unavailable {
            url: url.to_string(),
            source: format!(
                "redis is out of memory (maxmemory reached under the noeviction policy; \
                 free memory or raise maxmemory): {e}"
            )
            .into(),
        };
    }
    if is_transient(&e) {
        Error::Unavailable {
            url: url.to_string(),
            source: Box::new(e),
        }
    } else {
        Error::storage(e)
    }
}

/// The crate error for a first connection to the deployment at `url` (already redacted) that
/// failed with `e`, credentials sent to any sentinels when `sentinel_auth`: unavailable,
/// saying which CA was trusted when the server's TLS certificate was refused (the client
/// library says only how the check failed), how to present a client certificate when the
/// server ended the handshake, how to authenticate to sentinels that want credentials, and
/// that a TLS-only server may be why a plain connection was reset.
pub(crate) fn connect_failed(url: &str, e: RedisError, sentinel_auth: bool) -> Error {
    let text = e.to_string();
    let tls = url.starts_with("rediss");
    let source = if text.contains("invalid peer certificate") {
        format!(
            "the server's TLS certificate was refused ({text}); trusted are the CA of \
             `?tls_ca_file=` or `RedisOptions::tls_root_cert` when given, else the public roots"
        )
        .into()
    } else if text.contains("received fatal alert") {
        format!(
            "the server ended the TLS handshake ({text}); a server with `tls-auth-clients yes` \
             wants a client certificate its CA signed: `?tls_cert_file=...&tls_key_file=...` \
             or `RedisOptions::tls_client_cert`"
        )
        .into()
    } else if url.contains("+sentinel://") && text.contains("NOAUTH") && !sentinel_auth {
        format!(
            "{text} (when the URL has credentials, it is the sentinels that want them: \
             `?sentinel_auth=yes` sends them the URL's)"
        )
        .into()
    } else if !tls && text.contains("Connection reset") {
        format!(
            "{text} (a server that takes only TLS resets plain connections: for TLS use \
             `rediss://`, `rediss+cluster://` or `rediss+sentinel://`)"
        )
        .into()
    } else {
        Box::new(e) as queue_core::BoxError
    };
    Error::Unavailable {
        url: url.to_string(),
        source,
    }
}

/// The error a server's reply `-<text>` makes, for tests.
#[cfg(test)]
pub(crate) fn server_error(text: &str) -> RedisError {
    let reply = format!("-{text}\r\n");
    redis::parse_redis_value(reply.as_bytes())
        .and_then(|v| v.extract_error())
        .expect_err("an error reply")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_server_errors_are_retryable() {
        for text in [
            "READONLY You can't write against a read only replica.",
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.",
            "LOADING Redis is loading the dataset in memory",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)",
            "NOREPLICAS Not enough good replicas to write.",
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
        ] {
            let e = classify("redis://h", server_error(text));
            assert!(e.is_retryable(), "{text}: {e}");
        }
    }

    #[test]
    fn other_server_errors_are_not() {
        let e = classify("redis://h", server_error("ERR unknown command 'NOPE'"));
        assert!(!e.is_retryable(), "{e}");
        let e = classify("redis://h", server_error("NOPERM no permissions"));
        assert!(!e.is_retryable(), "{e}");
    }

    #[test]
    fn out_of_memory_names_the_cause() {
        let e = classify(
            "redis://h",
            server_error("OOM command not allowed when used memory > 'maxmemory'."),
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("redis is out of memory"), "{e}");
    }

    #[test]
    fn connect_failures_name_tls_causes() {
        let io = |kind, text: &str| RedisError::from(std::io::Error::new(kind, text.to_string()));
        let refused = io(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        let e = connect_failed("rediss://h", refused, false).to_string();
        assert!(e.contains("TLS certificate was refused"), "{e}");
        assert!(
            e.contains("UnknownIssuer") && e.contains("tls_ca_file"),
            "{e}"
        );
        let alert = io(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRequired",
        );
        let e = connect_failed("rediss://h", alert, false).to_string();
        assert!(
            e.contains("ended the TLS handshake") && e.contains("tls_cert_file"),
            "{e}"
        );

        let reset = || {
            io(
                std::io::ErrorKind::ConnectionReset,
                "Connection reset by peer",
            )
        };
        let e = connect_failed("redis+cluster://h:1", reset(), false).to_string();
        assert!(e.contains("takes only TLS"), "{e}");
        let e = connect_failed("rediss://h", reset(), false).to_string();
        assert!(!e.contains("takes only TLS"), "{e}");
        assert!(connect_failed("redis://h", reset(), false).is_retryable());

        let noauth = || {
            io(
                std::io::ErrorKind::Other,
                "NOAUTH: Authentication required.",
            )
        };
        let e = connect_failed("redis+sentinel://u:***@s:1/m", noauth(), false).to_string();
        assert!(e.contains("`?sentinel_auth=yes`"), "{e}");
        let e = connect_failed("redis+sentinel://u:***@s:1/m", noauth(), true);
        assert!(!e.to_string().contains("`?sentinel_auth=yes`"), "{e}");
    }

    #[test]
    fn an_aborted_transaction_passes_only_when_every_refusal_does() {
        assert_eq!(passing_refusal(["OOM"]), Some("OOM"));
        assert_eq!(passing_refusal(["READONLY", "OOM"]), Some("READONLY"));
        assert_eq!(passing_refusal(["NOPERM", "OOM"]), None);
        assert_eq!(passing_refusal(["OOM", "NOPERM"]), None);
        assert_eq!(passing_refusal(["ERR"]), None);
        assert_eq!(passing_refusal([]), None);
    }

    #[test]
    fn a_healthy_primarys_refusals_are_told_apart() {
        for text in [
            "OOM command not allowed when used memory > 'maxmemory'.",
            "BUSY Redis is busy running a script.",
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
        ] {
            assert!(is_healthy_refusal(&server_error(text)), "{text}");
        }
        for text in [
            "READONLY You can't write against a read only replica.",
            "NOREPLICAS Not enough good replicas to write.",
            "LOADING Redis is loading the dataset in memory",
        ] {
            assert!(!is_healthy_refusal(&server_error(text)), "{text}");
        }
    }

    #[test]
    fn read_only_replaces_the_connection() {
        let e = server_error("READONLY You can't write against a read only replica.");
        assert!(needs_new_connection(&e));
        assert!(!needs_new_connection(&server_error("ERR syntax error")));
    }
}
