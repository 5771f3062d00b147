//! A real `redis-server` for tests: started on a free port in a temporary directory, stopped
//! when dropped (or when the test process exits), restartable with its data. Also the
//! certificates of TLS tests ([`TlsFiles`]) and how a test deployment is secured
//! ([`Security`]: TLS, a password or an ACL user), shared by every harness.
#![allow(dead_code, unreachable_pub)]

// `cluster.rs` and `sentinel.rs` (and `node.rs`, which they include) need the `redis` crate,
// which not every crate sharing this module has: the tests that use them include them next to
// this module.
pub mod proxy;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running redis-server owned by the test.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

pub fn binary() -> String {
    if let Ok(path) = std::env::var("REDIS_SERVER") {
        return path;
    }
    find_binary("redis-server").unwrap_or_else(|| {
        panic!(
            "redis-server not found: the Redis tests start their own server. Install it \
             (Debian/Ubuntu: `sudo apt-get install redis-server`, macOS: `brew install redis`) \
             or set REDIS_SERVER=/path/to/redis-server"
        )
    })
}

/// The path of program `name` (on `PATH` or in the usual directories), if there is one.
pub fn find_binary(name: &str) -> Option<String> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let candidate = PathBuf::from(dir).join(name);
        if candidate.is_file() {
            return Some(candidate.to_string_lossy().into_owned());
        }
    }
    ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        .iter()
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|candidate| candidate.is_file())
        .map(|candidate| candidate.to_string_lossy().into_owned())
}

/// Whether something listens on `port` of 127.0.0.1. A connection the kernel made from the
/// port to itself (TCP's simultaneous open: a connect to a port nobody listens on, from the
/// same port, which an outgoing connection may be given) does not count: seen once in CI,
/// it made a server that never started look up.
pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port))
        .and_then(|stream| stream.local_addr())
        .is_ok_and(|local| local.port() != port)
}

/// Times `needle` appears in the file at `path` (0 when it cannot be read).
fn occurrences(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.matches(needle).count())
}

/// What redis-server logs once it accepts connections (every version since 2.8 starts with this).
const READY: &str = "Ready to accept connections";

/// What a server's log says when another process bound its port between [`free_port`]'s
/// check and the server's own bind.
const PORT_TAKEN: &str = "Address already in use";

/// Free ports a server started on a free port tries, when each is taken before it binds.
const PORT_TRIES: usize = 5;

/// Where test servers' ports come from: below the kernel's ephemeral range (32768 and up on
/// Linux), which every outgoing connection takes its local port from. A port from that range,
/// free when picked, could be some client's by the time redis-server binds it (seen once in CI:
/// a cluster node that never started). Each port's cluster bus port (+10000) stays below it too.
const PORTS: std::ops::Range<u32> = 12_000..22_000;

/// A port nothing listens on, with its cluster bus port (+10000) free as well, outside the
/// ephemeral range. Test processes start at different places (by pid) and each walks on from
/// there, so servers of one process never get the same port.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = PORTS.end - PORTS.start;
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = (PORTS.start + offset) as u16;
        let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free port in {PORTS:?} (with its +10000 cluster bus port)")
}

/// The last lines of the file at `path`, for a failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl RedisServer {
    /// Starts a server with AOF on (`appendfsync always`), so a restart keeps every write.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments (e.g. `["--requirepass", "x"]`).
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_free(|_| extra.iter().map(|arg| arg.to_string()).collect())
    }

    /// Starts a server that only accepts TLS, with `tls`'s certificates, on a free port.
    pub fn start_tls(tls: &Arc<TlsFiles>) -> Self {
        Self::start_free(|port| Security::default().with_tls(tls).server_args(port))
    }

    /// Starts a server on a free port with the extra arguments `args` gives for that port; a
    /// port another process takes before the server binds it is left for the next free one.
    fn start_free(args: impl Fn(u16) -> Vec<String>) -> Self {
        let mut taken = Vec::new();
        for _ in 0..PORT_TRIES {
            let port = free_port();
            let extra = args(port);
            match Self::try_start_on(port, &extra.iter().map(String::as_str).collect::<Vec<_>>()) {
                Ok(server) => return server,
                Err(log) => taken.push(format!("port {port}: {log}")),
            }
        }
        panic!(
            "redis-server found each of {PORT_TRIES} free ports taken when it bound them:\n{}",
            taken.join("\n")
        )
    }

    /// Starts a server on `port` with extra `redis-server` arguments.
    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        Self::try_start_on(port, extra).unwrap_or_else(|log| {
            panic!("redis-server could not bind port {port}, taken by another process:\n{log}")
        })
    }

    /// [`RedisServer::start_on`], or the end of the server's log when another process holds
    /// `port`.
    fn try_start_on(port: u16, extra: &[&str]) -> Result<Self, String> {
        let dir =
            std::env::temp_dir().join(format!("queue-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut server = Self {
            child: None,
            port,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.launch()?;
        Ok(server)
    }

    /// Starts the server process and waits until it accepts connections; the end of its log
    /// when its port is taken.
    fn launch(&mut self) -> Result<(), String> {
        let mut args = vec![
            "--port".to_string(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            self.dir.to_string_lossy().into_owned(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
            "--save".into(),
            "".into(),
            "--maxmemory-policy".into(),
            "noeviction".into(),
            "--logfile".into(),
            "redis.log".into(),
        ];
        args.extend(self.extra.iter().cloned());
        let log = self.dir.join("redis.log");
        let ready_before = occurrences(&log, READY);
        let taken_before = occurrences(&log, PORT_TAKEN);
        // The shell kills the server when our end of its stdin closes: on drop, and when the
        // test process exits without running destructors.
        let child = Command::new("sh")
            .arg("-c")
            .arg("\"$0\" \"$@\" & pid=$!; read _unused; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0")
            .arg(binary())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("could not run sh to start redis-server");
        self.child = Some(child);
        // Up once this server says so in its log (a restart appends to the same log) and
        // something listens on the port.
        let deadline = Instant::now() + Duration::from_secs(10);
        while occurrences(&log, READY) <= ready_before || !listening(self.port) {
            if occurrences(&log, PORT_TAKEN) > taken_before {
                // The port is another process's: nothing of this server to wait for.
                if let Some(child) = self.child.take() {
                    end(child);
                }
                return Err(tail(&log));
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}; {} ends with:\n{}",
                self.port,
                log.display(),
                tail(&log)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL: no shutdown save; AOF with fsync always keeps every write).
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            end(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while listening(self.port) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts the server again on the same port and directory, reloading its AOF.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(log) = self.launch() {
            panic!(
                "redis-server could not bind port {} again, taken by another process:\n{log}",
                self.port
            );
        }
    }
}

/// Ends a server's shell, which kills the server as its stdin closes.
fn end(mut child: Child) {
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"\n");
    }
    let _ = child.wait();
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for the TLS tests (Debian/Ubuntu: `apt-get install openssl`)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A private CA and a server certificate it signed for 127.0.0.1 and localhost, made by
/// `openssl` in a directory of their own (removed when dropped). Every server of a test
/// deployment uses the one certificate, also as its client certificate towards the others.
#[derive(Debug)]
pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    /// Makes the CA and the certificate (RSA 2048, valid two days).
    pub fn generate() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "queue-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("san.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("write san.cnf");
        openssl(
            &dir,
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
            &dir,
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
            &dir,
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
        Self { dir }
    }

    /// The path of file `name` (`ca.crt`, `server.crt`, `server.key`).
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// The contents of file `name`.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// The settings (name, value) of a server or sentinel taking only TLS on `port`, asking
    /// clients for a certificate signed by the CA when `client_certs` says so, and
    /// replicating (and monitoring) over TLS.
    pub fn settings(&self, port: u16, client_certs: bool) -> Vec<(&'static str, String)> {
        vec![
            ("port", "0".to_string()),
            ("tls-port", port.to_string()),
            ("tls-cert-file", self.path("server.crt")),
            ("tls-key-file", self.path("server.key")),
            ("tls-ca-cert-file", self.path("ca.crt")),
            (
                "tls-auth-clients",
                if client_certs { "yes" } else { "no" }.into(),
            ),
            ("tls-replication", "yes".to_string()),
        ]
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the data nodes of a test deployment are secured: TLS, and the `default` user's
/// password or an ACL user of their own.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// TLS only, with these certificates.
    pub tls: Option<Arc<TlsFiles>>,
    /// With TLS: clients must present a certificate signed by the CA (`tls-auth-clients
    /// yes`; the servers' own certificate serves as the tests' client certificate).
    pub client_certs: bool,
    /// Sentinels require the credentials too (and use them with each other).
    pub sentinel_auth: bool,
    /// An ACL user (the `default` user is then turned off); `None`: the `default` user.
    pub user: Option<String>,
    /// The password (of `user`, or `requirepass` of the `default` user).
    pub password: Option<String>,
}

impl Security {
    /// The `default` user with `password` (`requirepass`), if any; no TLS.
    pub fn password(password: Option<&str>) -> Self {
        Self {
            password: password.map(str::to_string),
            ..Self::default()
        }
    }

    /// An ACL user `user` with `password` (every command and key), the `default` user off.
    pub fn acl_user(user: &str, password: &str) -> Self {
        Self {
            user: Some(user.to_string()),
            password: Some(password.to_string()),
            ..Self::default()
        }
    }

    /// The same with TLS only, with `tls`'s certificates.
    pub fn with_tls(self, tls: &Arc<TlsFiles>) -> Self {
        Self {
            tls: Some(Arc::clone(tls)),
            ..self
        }
    }

    /// The `redis-server` arguments of a node listening on `port` (TLS only when TLS is on)
    /// that requires these credentials, also from the replicas it serves.
    pub fn server_args(&self, port: u16) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(tls) = &self.tls {
            for (name, value) in tls.settings(port, self.client_certs) {
                args.extend([format!("--{name}"), value]);
            }
        }
        match (&self.user, &self.password) {
            (Some(user), Some(pw)) => args.extend(
                [
                    "--user",
                    "default",
                    "off",
                    "--user",
                    user,
                    "on",
                    &format!(">{pw}"),
                    "~*",
                    "&*",
                    "+@all",
                    "--masteruser",
                    user,
                    "--masterauth",
                    pw,
                ]
                .map(str::to_string),
            ),
            (None, Some(pw)) => {
                args.extend(["--requirepass", pw, "--masterauth", pw].map(str::to_string))
            }
            _ => {}
        }
        args
    }

    /// The `redis-cli` arguments that reach such a node.
    pub fn cli_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(tls) = &self.tls {
            args.extend(
                ["--tls", "--cacert", &tls.path("ca.crt")]
                    .into_iter()
                    .chain([
                        "--cert",
                        &tls.path("server.crt"),
                        "--key",
                        &tls.path("server.key"),
                    ])
                    .map(str::to_string),
            );
        }
        if let Some(pw) = &self.password {
            args.push("--no-auth-warning".into());
            if let Some(user) = &self.user {
                args.extend(["--user".to_string(), user.clone()]);
            }
            args.extend(["--pass".to_string(), pw.clone()]);
        }
        args
    }

    /// `user:password@`, `:password@` or nothing, for a URL.
    pub fn userinfo(&self) -> String {
        match &self.password {
            Some(pw) => format!("{}:{pw}@", self.user.as_deref().unwrap_or_default()),
            None => String::new(),
        }
    }

    /// `scheme` (`redis`, `redis+cluster`...) with an `s` after `redis` when TLS is on.
    pub fn scheme(&self, scheme: &str) -> String {
        match &self.tls {
            Some(_) => scheme.replacen("redis", "rediss", 1),
            None => scheme.to_string(),
        }
    }

    /// `redis[s]://[userinfo@]127.0.0.1:<port>/` of the node on `port`.
    pub fn node_url(&self, port: u16) -> String {
        format!(
            "{}://{}127.0.0.1:{port}/",
            self.scheme("redis"),
            self.userinfo()
        )
    }

    /// The driver's URL parameters for TLS: `tls_ca_file=<the CA>`, and `tls_cert_file=...`,
    /// `tls_key_file=...` when the servers ask for a client certificate; none without TLS.
    pub fn tls_params(&self) -> Vec<String> {
        let Some(tls) = &self.tls else {
            return Vec::new();
        };
        let mut params = vec![format!("tls_ca_file={}", tls.path("ca.crt"))];
        if self.client_certs {
            params.push(format!("tls_cert_file={}", tls.path("server.crt")));
            params.push(format!("tls_key_file={}", tls.path("server.key")));
        }
        params
    }

    /// How the tests reach sentinels: TLS as this, with the credentials only when the
    /// sentinels require them.
    pub fn for_sentinels(&self) -> Self {
        match self.sentinel_auth {
            true => self.clone(),
            false => Self {
                tls: self.tls.clone(),
                client_certs: self.client_certs,
                ..Self::default()
            },
        }
    }

    /// The settings (name, value) of a sentinel with this security on `port`: TLS, and when
    /// the sentinels require credentials, the same user (the `default` user off) or
    /// `requirepass`, used with the other sentinels too.
    pub fn sentinel_settings(&self, port: u16) -> Vec<(&'static str, String)> {
        let mut settings = match &self.tls {
            Some(tls) => tls.settings(port, self.client_certs),
            None => Vec::new(),
        };
        let (Some(pw), true) = (&self.password, self.sentinel_auth) else {
            return settings;
        };
        match &self.user {
            Some(user) => settings.extend([
                ("user", "default off".to_string()),
                ("user", format!("{user} on >{pw} ~* &* +@all")),
                ("sentinel", format!("sentinel-user {user}")),
            ]),
            None => settings.push(("requirepass", pw.clone())),
        }
        settings.push(("sentinel", format!("sentinel-pass {pw}")));
        settings
    }
}

/// `?a&b...` of URL parameters `params`, or nothing when there are none.
pub fn query_string(params: &[String]) -> String {
    match params.is_empty() {
        true => String::new(),
        false => format!("?{}", params.join("&")),
    }
}
