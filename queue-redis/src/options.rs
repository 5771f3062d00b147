//! The driver's settings: [`RedisOptions`], and the parameters of ours the URL may carry
//! (`?prefix=`, `?durable_replicas=`, `?durable_timeout=`, `?large_payload=`, `?compress=`,
//! `?tls_ca_file=`, `?tls_cert_file=` with `?tls_key_file=`, `?sentinel_auth=`).

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
    /// For TLS URLs (`rediss://`, `rediss+cluster://`, `rediss+sentinel://`): PEM root
    /// certificates to trust instead of the public roots (a private CA), for every node and
    /// sentinel. Also settable as `?tls_ca_file=/path/to/ca.pem` in the URL (read at
    /// connect). Default `None`.
    #[cfg(feature = "tls")]
    pub tls_root_cert: Option<Vec<u8>>,
    /// For TLS URLs: a client certificate and its key, presented to every node and sentinel
    /// (for servers with `tls-auth-clients yes`, Redis's default when TLS is on). Also
    /// settable as `?tls_cert_file=/path/cert.pem&tls_key_file=/path/key.pem` in the URL
    /// (read at connect). Default `None`.
    #[cfg(feature = "tls")]
    pub tls_client_cert: Option<TlsClientCert>,
    /// Behind Sentinel: authenticate to the sentinels too, with the URL's user and password
    /// (for sentinels that require the data nodes' credentials, through `requirepass` or the
    /// same ACL user). Also settable as `?sentinel_auth=yes` in a `redis[s]+sentinel://` URL.
    /// Default `false`: the sentinels are asked without credentials.
    pub sentinel_auth: bool,
    /// Durable dispatch: when above 0, a dispatch returns only once this many replicas
    /// confirmed its writes (`WAIT`), and fails with
    /// [`Error::NotReplicated`](queue_core::Error::NotReplicated) when fewer did within
    /// [`durable_timeout`](RedisOptions::durable_timeout). Also settable as
    /// `?durable_replicas=1` in the URL. Default 0: dispatch returns once the primary stored
    /// the jobs, which asynchronous replication can lose in a failover (see the README).
    pub durable_replicas: u32,
    /// How long a durable dispatch waits for its replicas: at least 1 ms, shorter than
    /// `response_timeout`. Also settable as `?durable_timeout=100ms` (or `2s`). Default 1 s.
    pub durable_timeout: Duration,
    /// Payloads of at least this many bytes are stored beside their job's record (in the
    /// queue's `body` hash, written and read with plain hash commands next to the scripts)
    /// instead of passing through the scripts, which copy every byte they are given several
    /// times; see BENCHMARKS.md for what it gains. Jobs with a chosen id (sharded lanes' jobs
    /// among them), a rate key, a unique key, and the steps of workflows keep their payloads in
    /// their records whatever the size. 0 keeps every payload in its record. Workers of a build
    /// before this setting existed read such jobs with empty payloads: upgrade workers before
    /// dispatchers, or keep 0 until every worker is upgraded. Also settable as `?large_payload=16384`. Default
    /// 8 KiB.
    pub large_payload: usize,
    /// How payloads stored beside their records (see
    /// [`large_payload`](RedisOptions::large_payload)) are compressed. Workers read either
    /// form whatever their own setting. Also settable as `?compress=lz4` (or `none`). Default
    /// [`Compression::None`].
    pub compress: Compression,
}

/// How large payloads are compressed ([`RedisOptions::compress`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Stored as they are.
    #[default]
    None,
    /// LZ4 (the `lz4_flex` block format with the size in front): fast on both sides, about
    /// halving JSON; a payload it would not shrink is stored as it is.
    Lz4,
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
            #[cfg(feature = "tls")]
            tls_client_cert: None,
            sentinel_auth: false,
            durable_replicas: 0,
            durable_timeout: Duration::from_secs(1),
            large_payload: 8 * 1024,
            compress: Compression::None,
        }
    }
}

/// A TLS client certificate and its private key, both PEM ([`RedisOptions::tls_client_cert`]).
/// `Debug` never shows the key.
#[cfg(feature = "tls")]
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsClientCert {
    /// The certificate, followed by any intermediate certificates (PEM).
    pub cert_pem: Vec<u8>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

#[cfg(feature = "tls")]
impl TlsClientCert {
    /// The certificate `cert_pem` with its key `key_pem`.
    pub fn new(cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        Self { cert_pem, key_pem }
    }
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for TlsClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientCert")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &format_args!("***"))
            .finish()
    }
}

impl RedisOptions {
    /// Takes our parameters off `url`'s query string into these options; returns the URL
    /// left for the client library, or why a parameter is refused.
    pub(crate) fn take_from_url(&mut self, url: &str) -> Result<String, String> {
        let (url, prefix) = split_prefix(url);
        if let Some(prefix) = prefix {
            self.prefix = prefix;
        }
        let Some((base, query)) = url.split_once('?') else {
            return self.check().map(|()| url);
        };
        let mut rest = Vec::new();
        let (mut cert_file, mut key_file) = (None, None);
        for pair in query.split('&') {
            if let Some(n) = pair.strip_prefix("durable_replicas=") {
                self.durable_replicas = n.parse().map_err(|_| {
                    format!("`durable_replicas` must be a whole number of replicas, not `{n}`")
                })?;
            } else if let Some(path) = pair.strip_prefix("tls_ca_file=") {
                let pem = read_pem(base, "tls_ca_file", "CA", &percent_decode(path))?;
                #[cfg(feature = "tls")]
                {
                    self.tls_root_cert = Some(pem);
                }
                #[cfg(not(feature = "tls"))]
                let _ = pem;
            } else if let Some(yes) = pair.strip_prefix("sentinel_auth=") {
                if !base.contains("+sentinel://") {
                    return Err("`sentinel_auth` is for `redis[s]+sentinel://` URLs".into());
                }
                self.sentinel_auth = match yes {
                    "yes" | "true" | "1" => true,
                    "no" | "false" | "0" => false,
                    _ => {
                        return Err(format!(
                            "`sentinel_auth` must be `yes` or `no`, not `{yes}`"
                        ))
                    }
                };
            } else if let Some(path) = pair.strip_prefix("tls_cert_file=") {
                cert_file = Some(percent_decode(path));
            } else if let Some(path) = pair.strip_prefix("tls_key_file=") {
                key_file = Some(percent_decode(path));
            } else if let Some(t) = pair.strip_prefix("durable_timeout=") {
                self.durable_timeout = parse_duration(t).ok_or_else(|| {
                    format!(
                        "`durable_timeout` must be a duration such as `100ms` or `2s`, not `{t}`"
                    )
                })?;
            } else if let Some(n) = pair.strip_prefix("large_payload=") {
                self.large_payload = n.parse().map_err(|_| {
                    format!("`large_payload` must be a whole number of bytes, not `{n}`")
                })?;
            } else if let Some(c) = pair.strip_prefix("compress=") {
                self.compress = match c {
                    "none" => Compression::None,
                    "lz4" => Compression::Lz4,
                    _ => return Err(format!("`compress` must be `lz4` or `none`, not `{c}`")),
                };
            } else {
                rest.push(pair);
            }
        }
        match (cert_file, key_file) {
            (Some(cert), Some(key)) => {
                let cert = read_pem(base, "tls_cert_file", "certificate", &cert)?;
                let key = read_pem(base, "tls_key_file", "private key", &key)?;
                #[cfg(feature = "tls")]
                {
                    self.tls_client_cert = Some(TlsClientCert::new(cert, key));
                }
                #[cfg(not(feature = "tls"))]
                let _ = (cert, key);
            }
            (None, None) => {}
            _ => {
                return Err(
                    "`tls_cert_file` and `tls_key_file` go together: give both or neither".into(),
                )
            }
        }
        self.check()?;
        Ok(match rest.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", rest.join("&")),
        })
    }

    /// Refuses durable-dispatch settings that cannot work.
    fn check(&self) -> Result<(), String> {
        if self.durable_replicas > 0 {
            if self.durable_timeout < Duration::from_millis(1) {
                return Err("`durable_timeout` must be at least 1ms".to_string());
            }
            if self.durable_timeout >= self.response_timeout {
                return Err(format!(
                    "`durable_timeout` ({:?}) must be shorter than the response timeout ({:?})",
                    self.durable_timeout, self.response_timeout
                ));
            }
        }
        Ok(())
    }
}

/// The PEM file at `path`, named by URL parameter `param` of URL `base` (a TLS URL), holding
/// a `what` (`CA`, `certificate`, `private key`), or why it cannot be used.
fn read_pem(base: &str, param: &str, what: &str, path: &str) -> Result<Vec<u8>, String> {
    let scheme = base.split_once("://").map_or("", |(scheme, _)| scheme);
    if !scheme.starts_with("rediss") {
        return Err(format!(
            "`{param}` needs a TLS URL (`rediss://`, `rediss+cluster://` or \
             `rediss+sentinel://`), not `{scheme}://`"
        ));
    }
    if cfg!(not(feature = "tls")) {
        return Err(format!(
            "`{param}` (`{path}`) needs the `tls` feature of queue-redis"
        ));
    }
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read the {what} file `{path}` (`{param}`): {e}"))?;
    let marker: &[u8] = match what {
        "private key" => b"PRIVATE KEY-----",
        _ => b"-----BEGIN CERTIFICATE-----",
    };
    if !pem.windows(marker.len()).any(|w| w == marker) {
        return Err(format!(
            "the {what} file `{path}` (`{param}`) is not PEM: it has no `{}` line",
            String::from_utf8_lossy(marker)
        ));
    }
    Ok(pem)
}

/// `text` with its `%XX` escapes decoded (a path with `&`, `%` or spaces in a URL).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `250ms` or `2s`.
fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')?
        .parse()
        .ok()
        .map(Duration::from_secs)
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

    #[test]
    fn durable_dispatch_comes_off_the_url() {
        let mut options = RedisOptions::default();
        let url = options
            .take_from_url("redis://h/0?durable_replicas=2&protocol=resp3&durable_timeout=150ms")
            .unwrap();
        assert_eq!(url, "redis://h/0?protocol=resp3");
        assert_eq!(options.durable_replicas, 2);
        assert_eq!(options.durable_timeout, Duration::from_millis(150));
        let mut options = RedisOptions::default();
        let url = options
            .take_from_url("redis://h?durable_replicas=1&durable_timeout=2s&prefix=p")
            .unwrap();
        assert_eq!((url.as_str(), options.prefix.as_str()), ("redis://h", "p"));
        assert_eq!(options.durable_timeout, Duration::from_secs(2));
        let refused = |url: &str| RedisOptions::default().take_from_url(url).unwrap_err();
        assert!(refused("redis://h?durable_replicas=x").contains("whole number"));
        assert!(refused("redis://h?durable_replicas=1&durable_timeout=soon").contains("duration"));
        assert!(refused("redis://h?durable_replicas=1&durable_timeout=9s").contains("shorter"));
        assert!(refused("redis://h?durable_replicas=1&durable_timeout=0ms").contains("at least"));
    }

    #[test]
    fn payload_settings_come_off_the_url() {
        let mut options = RedisOptions::default();
        assert_eq!(options.large_payload, 8 * 1024);
        let url = options
            .take_from_url("redis://h/0?large_payload=100&compress=lz4&protocol=resp3")
            .unwrap();
        assert_eq!(url, "redis://h/0?protocol=resp3");
        assert_eq!(
            (options.large_payload, options.compress),
            (100, Compression::Lz4)
        );
        let refused = |url: &str| RedisOptions::default().take_from_url(url).unwrap_err();
        assert!(refused("redis://h?large_payload=big").contains("`large_payload`"));
        assert!(refused("redis://h?compress=zip").contains("`compress` must be"));
    }

    #[test]
    fn sentinel_auth_comes_off_the_url() {
        let mut options = RedisOptions::default();
        let url = options
            .take_from_url("redis+sentinel://u:p@s:1/m/0?sentinel_auth=yes&prefix=x")
            .unwrap();
        assert_eq!(url, "redis+sentinel://u:p@s:1/m/0");
        assert!(options.sentinel_auth);
        let refused = |url: &str| RedisOptions::default().take_from_url(url).unwrap_err();
        assert!(refused("redis://h?sentinel_auth=yes").contains("is for"));
        assert!(refused("redis+sentinel://s:1/m?sentinel_auth=maybe").contains("`yes` or `no`"));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_ca_file_comes_off_the_url() {
        let dir = std::env::temp_dir().join(format!("queue-ca-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.join("my ca.pem"), pem).unwrap();
        std::fs::write(dir.join("not.pem"), b"hello").unwrap();
        let path = dir.join("my%20ca.pem").to_string_lossy().into_owned();

        let mut options = RedisOptions::default();
        let url = options
            .take_from_url(&format!(
                "rediss+cluster://u:p@h:1?tls_ca_file={path}&prefix=x"
            ))
            .unwrap();
        assert_eq!(url, "rediss+cluster://u:p@h:1");
        assert_eq!(options.tls_root_cert.as_deref(), Some(&pem[..]));

        let refused = |url: String| RedisOptions::default().take_from_url(&url).unwrap_err();
        let e = refused(format!("redis://h?tls_ca_file={path}"));
        assert!(e.contains("needs a TLS URL"), "{e}");
        let e = refused("rediss://h?tls_ca_file=/no/such/ca.pem".into());
        assert!(
            e.contains("cannot read the CA file `/no/such/ca.pem`"),
            "{e}"
        );
        let e = refused(format!(
            "rediss://h?tls_ca_file={}",
            dir.join("not.pem").display()
        ));
        assert!(e.contains("is not PEM"), "{e}");

        // A client certificate and key go together.
        std::fs::write(dir.join("key.pem"), b"-----BEGIN PRIVATE KEY-----\nMC4\n").unwrap();
        let ca = dir.join("my ca.pem").display().to_string();
        let key = dir.join("key.pem").display().to_string();
        let mut options = RedisOptions::default();
        let url = options
            .take_from_url(&format!(
                "rediss://h/0?tls_key_file={key}&tls_cert_file={ca}"
            ))
            .unwrap();
        assert_eq!(url, "rediss://h/0");
        let client = options
            .tls_client_cert
            .clone()
            .expect("a client certificate");
        assert_eq!(client.cert_pem, pem);
        assert!(
            !format!("{options:?}").contains("MC4"),
            "the key must not show"
        );
        let e = refused(format!("rediss://h?tls_cert_file={ca}"));
        assert!(e.contains("go together"), "{e}");
        let e = refused(format!("rediss://h?tls_cert_file={ca}&tls_key_file={ca}"));
        assert!(
            e.contains("private key file") && e.contains("is not PEM"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
