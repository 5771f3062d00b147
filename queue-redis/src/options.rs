//! The driver's settings: [`RedisOptions`], and the `?prefix=` the URL may carry.

use std::time::Duration;

use queue_core::DEFAULT_MAX_LOST_LEASES;

/// Settings of a [`RedisDriver`](crate::RedisDriver).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// Prepended to every key (`{prefix:queue}:...`), so several applications can share a
    /// server. Also settable as `?prefix=` in the URL. Default `queue`.
    pub prefix: String,
    /// How many failed jobs each queue keeps (oldest dropped). Default 10,000.
    pub max_failed: usize,
    /// How many times a job may lose its lease (its worker stopped or lost its connection while
    /// running it) before it is failed as poison. Lost leases do not spend attempts. Default
    /// [`DEFAULT_MAX_LOST_LEASES`] (3); 0 counts as 1.
    pub max_lost_leases: u32,
    /// How long a command may wait for its answer before failing. A connection on which a
    /// command timed out is replaced (its peer may be gone without a reset). Default 5 s.
    pub response_timeout: Duration,
    /// How long connecting may take. Default 5 s.
    pub connect_timeout: Duration,
    /// Longest an idle worker's blocking wait (`BLPOP`) lasts on the server before it is sent
    /// again. A blocking connection that has not answered within this plus `response_timeout`
    /// is taken for cut and replaced, so this also bounds how long a silently cut idle worker
    /// takes to notice. An idle worker sends one command per lane this often. Default 10 s.
    pub block_timeout: Duration,
    /// TCP keepalive on every connection: probes start after this long without traffic, and a
    /// peer that answers none of three (a third of this apart) closes the connection. `None`
    /// turns keepalive off. Default 15 s.
    pub tcp_keepalive: Option<Duration>,
    /// For `rediss://` URLs: a PEM root certificate to trust instead of the public roots (a
    /// private CA). Default `None`.
    #[cfg(feature = "tls")]
    pub tls_root_cert: Option<Vec<u8>>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "queue".to_string(),
            max_failed: 10_000,
            max_lost_leases: DEFAULT_MAX_LOST_LEASES,
            response_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            block_timeout: Duration::from_secs(10),
            tcp_keepalive: Some(Duration::from_secs(15)),
            #[cfg(feature = "tls")]
            tls_root_cert: None,
        }
    }
}

/// Takes our own `prefix` parameter off the URL's query string.
pub(crate) fn split_prefix(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut prefix = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("prefix=") {
            Some(p) => {
                prefix = Some(p.to_string());
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    if rest.is_empty() {
        (base.to_string(), prefix)
    } else {
        (format!("{base}?{}", rest.join("&")), prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_comes_off_the_url() {
        assert_eq!(
            split_prefix("redis://h:1/0?prefix=app"),
            ("redis://h:1/0".to_string(), Some("app".to_string()))
        );
        assert_eq!(
            split_prefix("redis://h/0?protocol=resp3&prefix=x"),
            (
                "redis://h/0?protocol=resp3".to_string(),
                Some("x".to_string())
            )
        );
        assert_eq!(split_prefix("redis://h"), ("redis://h".to_string(), None));
    }
}
