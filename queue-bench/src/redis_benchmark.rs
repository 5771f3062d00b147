//! Running `redis-benchmark` (from redis-tools) against a Redis server and reading the requests
//! per second it reports.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo};

/// How long one `redis-benchmark` call may take before it is stopped: it retries forever when it
/// cannot connect, and one call normally takes a second or two.
const DEADLINE: Duration = Duration::from_secs(60);

/// The `redis-benchmark` binary: `$REDIS_BENCHMARK`, else the first on `PATH`, else a usual
/// install location. Panics, saying how to install it, when there is none.
pub(crate) fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_BENCHMARK") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let usual = ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"].map(PathBuf::from);
    on_path
        .into_iter()
        .chain(usual)
        .map(|dir| dir.join("redis-benchmark"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-benchmark not found: the harness measures a machine baseline with it \
                 before and after the Redis phases. Install it (Debian/Ubuntu: `sudo apt-get \
                 install redis-tools`, macOS: `brew install redis`) or set \
                 REDIS_BENCHMARK=/path/to/redis-benchmark"
            )
        })
}

/// The `redis-benchmark` flags that reach the server `info` describes: host and port or socket,
/// TLS, user, password and database.
pub(crate) fn connection_args(info: &ConnectionInfo) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => {
            args.extend(["-h".into(), host.clone(), "-p".into(), port.to_string()]);
        }
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } => {
            args.extend(["-h".into(), host.clone(), "-p".into(), port.to_string()]);
            args.push("--tls".into());
            if *insecure {
                args.push("--insecure".into());
            }
        }
        ConnectionAddr::Unix(path) => {
            args.extend(["-s".into(), path.to_string_lossy().into_owned()]);
        }
        other => return Err(format!("redis-benchmark cannot connect to {other}")),
    }
    let settings = info.redis_settings();
    match (settings.username(), settings.password()) {
        (Some(user), Some(password)) => {
            args.extend(["--user".into(), user.into(), "-a".into(), password.into()]);
        }
        (None, Some(password)) => args.extend(["-a".into(), password.into()]),
        (Some(user), None) => {
            return Err(format!(
                "redis-benchmark needs a password with the user name `{user}`"
            ))
        }
        (None, None) => {}
    }
    if settings.db() != 0 {
        args.extend(["--dbnum".into(), settings.db().to_string()]);
    }
    Ok(args)
}

/// `args` (flags, then the command to benchmark) with `--csv` among the flags: after the
/// command it would be one more argument of the command.
fn with_csv(args: &[String]) -> Vec<String> {
    std::iter::once("--csv".to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// The arguments as a line for a message, with the password after `-a` left out.
fn shown(args: &[String]) -> String {
    let mut previous = "";
    let mut words = Vec::new();
    for arg in args {
        words.push(if previous == "-a" { "<password>" } else { arg });
        previous = arg;
    }
    words.join(" ")
}

/// Runs `redis-benchmark` with these arguments (flags, then the command; `--csv` is added) and
/// returns the requests per second it reports for the test whose name starts with `command`
/// (`LPUSH` for `LPUSH key x`). Stops it after [`DEADLINE`].
pub(crate) fn run(binary: &Path, args: &[String], command: &str) -> Result<f64, String> {
    let args = with_csv(args);
    let mut child = Command::new(binary)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                // What could not be read stays out of the text; the exit status tells the rest.
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if start.elapsed() > DEADLINE => {
                // It may have ended since; either way it is reaped below.
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("stopped after {} s", DEADLINE.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(format!("cannot wait for it: {e}")),
        }
    };
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    let failed = |what: String| {
        format!(
            "redis-benchmark {} {what}; its output: {} {}",
            shown(&args),
            stdout.trim(),
            stderr.trim()
        )
    };
    match status {
        Ok(status) if status.success() => rate_of(&stdout, command).map_err(failed),
        Ok(status) => Err(failed(format!("failed ({status})"))),
        Err(why) => Err(failed(why)),
    }
}

/// The requests per second of the one test in `redis-benchmark --csv` output whose name's first
/// word is `command` (any case).
pub(crate) fn rate_of(csv: &str, command: &str) -> Result<f64, String> {
    let matching: Vec<(String, f64)> = parse_csv(csv)?
        .into_iter()
        .filter(|(test, _)| {
            test.split_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case(command))
        })
        .collect();
    match matching.as_slice() {
        [(_, rps)] => Ok(*rps),
        [] => Err(format!("reported no {command} test")),
        _ => Err(format!(
            "reported {} {command} tests, not one",
            matching.len()
        )),
    }
}

/// Each test's name and requests per second from `redis-benchmark --csv` output: a header line
/// (`"test","rps",...`) and a line per test. Lines before the header and lines not in quotes
/// (warnings) are passed over.
pub(crate) fn parse_csv(csv: &str) -> Result<Vec<(String, f64)>, String> {
    let mut lines = csv.lines().map(str::trim).filter(|l| l.starts_with('"'));
    let header = lines
        .by_ref()
        .map(fields)
        .find(|fields| fields.first().map(String::as_str) == Some("test"))
        .ok_or("printed no CSV header (a line starting with \"test\")")?;
    let rps_column = header
        .iter()
        .position(|name| name == "rps")
        .ok_or("printed a CSV header without an rps column")?;
    lines
        .map(|line| {
            let fields = fields(line);
            let (Some(test), Some(rps)) = (fields.first(), fields.get(rps_column)) else {
                return Err(format!("printed a CSV line without an rps field: {line}"));
            };
            match rps.parse::<f64>() {
                Ok(rps) if rps.is_finite() && rps > 0.0 => Ok((test.clone(), rps)),
                _ => Err(format!("reported `{rps}` requests per second for {test}")),
            }
        })
        .collect()
}

/// The fields of one CSV line: quoted (a doubled quote inside stands for one) or bare, separated
/// by commas.
fn fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use redis::IntoConnectionInfo;

    use super::*;

    /// Printed by redis-benchmark 7.0.15 for `-P 16 -n 1000000 --csv LPUSH bench:baseline:list x`.
    const LPUSH: &str = "\
\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"
\"LPUSH bench:baseline:list x\",\"845308.56\",\"0.787\",\"0.240\",\"0.759\",\"1.207\",\"1.535\",\"3.887\"
";

    /// Printed by redis-benchmark 7.0.15 for `-P 16 -n 200000 -t lpush,rpop --csv`.
    const TWO_TESTS: &str = "\
\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\r
\"LPUSH\",\"709219.88\",\"0.991\",\"0.296\",\"0.911\",\"1.351\",\"2.279\",\"10.311\"\r
\"RPOP\",\"858369.12\",\"0.651\",\"0.120\",\"0.519\",\"1.215\",\"1.543\",\"2.879\"\r
";

    /// Printed by redis-benchmark 7.0.15 for a script it could not run (`NOSCRIPT`): the
    /// header alone.
    const HEADER_ONLY: &str = "\
\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"
";

    #[test]
    fn reads_the_rate_of_a_command() {
        assert_eq!(rate_of(LPUSH, "LPUSH"), Ok(845_308.56));
        assert_eq!(rate_of(LPUSH, "lpush"), Ok(845_308.56));
        assert_eq!(rate_of(TWO_TESTS, "RPOP"), Ok(858_369.12));
        assert_eq!(rate_of(TWO_TESTS, "LPUSH"), Ok(709_219.88));
        assert_eq!(
            rate_of(TWO_TESTS, "EVALSHA").unwrap_err(),
            "reported no EVALSHA test"
        );
        assert_eq!(
            rate_of(&format!("{TWO_TESTS}\"LPUSH\",\"1.0\"\n"), "LPUSH").unwrap_err(),
            "reported 2 LPUSH tests, not one"
        );
        assert_eq!(
            rate_of(HEADER_ONLY, "EVALSHA").unwrap_err(),
            "reported no EVALSHA test"
        );
    }

    #[test]
    fn finds_the_rps_column_by_name_and_passes_over_warnings() {
        let reordered = "WARNING: Could not fetch server CONFIG\n\
                         \"test\",\"avg_latency_ms\",\"rps\"\n\
                         \"EVALSHA abc 1 \"\"k,1\"\"\",\"2.107\",\"336700.34\"\n";
        assert_eq!(
            parse_csv(reordered),
            Ok(vec![("EVALSHA abc 1 \"k,1\"".to_string(), 336_700.34)])
        );
    }

    #[test]
    fn bad_output_is_an_error_naming_it() {
        assert_eq!(
            parse_csv("").unwrap_err(),
            "printed no CSV header (a line starting with \"test\")"
        );
        assert_eq!(
            parse_csv("\"test\",\"avg\"\n").unwrap_err(),
            "printed a CSV header without an rps column"
        );
        assert_eq!(
            parse_csv("\"test\",\"rps\"\n\"PING\",\"-nan\"\n").unwrap_err(),
            "reported `-nan` requests per second for PING"
        );
        assert_eq!(
            parse_csv("\"test\",\"rps\"\n\"PING\",\"0.00\"\n").unwrap_err(),
            "reported `0.00` requests per second for PING"
        );
        assert_eq!(
            parse_csv("\"test\",\"x\",\"rps\"\n\"PING\"\n").unwrap_err(),
            "printed a CSV line without an rps field: \"PING\""
        );
    }

    #[test]
    fn connection_flags_follow_the_url() {
        let args = |url: &str| connection_args(&url.into_connection_info().unwrap());
        assert_eq!(
            args("redis://127.0.0.1:6390").unwrap(),
            ["-h", "127.0.0.1", "-p", "6390"]
        );
        assert_eq!(
            args("redis://ann:secret@db.example:7000/3").unwrap(),
            [
                "-h",
                "db.example",
                "-p",
                "7000",
                "--user",
                "ann",
                "-a",
                "secret",
                "--dbnum",
                "3"
            ]
        );
        assert_eq!(
            args("redis://:secret@localhost").unwrap(),
            ["-h", "localhost", "-p", "6379", "-a", "secret"]
        );
        assert_eq!(
            args("unix:///run/redis.sock").unwrap(),
            ["-s", "/run/redis.sock"]
        );
        assert_eq!(
            args("redis://ann@localhost").unwrap_err(),
            "redis-benchmark needs a password with the user name `ann`"
        );
    }

    #[test]
    fn csv_comes_before_the_command() {
        let args = ["-n", "10", "LPUSH", "k", "x"].map(String::from);
        assert_eq!(with_csv(&args), ["--csv", "-n", "10", "LPUSH", "k", "x"]);
    }

    #[test]
    fn messages_leave_the_password_out() {
        let args = ["-p", "7000", "--user", "ann", "-a", "secret", "PING"].map(String::from);
        assert_eq!(shown(&args), "-p 7000 --user ann -a <password> PING");
    }

    #[test]
    fn a_missing_binary_is_an_error() {
        let err = run(Path::new("/nonexistent/redis-benchmark"), &[], "PING").unwrap_err();
        assert!(
            err.starts_with("cannot start /nonexistent/redis-benchmark: "),
            "{err}"
        );
    }
}
