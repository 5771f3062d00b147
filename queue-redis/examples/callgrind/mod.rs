//! Counting a process's instructions per phase under valgrind's callgrind, for the examples
//! that measure in instructions (`server_instructions` here, `worker_instructions` of
//! queue-bench, which includes this file): zero the counts, run the phase, dump them, and read
//! the dump's total. Not an example of its own (a directory without `main.rs`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A process running under callgrind with `--callgrind-out-file=<dir>/phase`.
pub(crate) struct Callgrind {
    /// Its process id.
    pub(crate) pid: u32,
    /// Where callgrind writes its dumps and each phase's profile is kept.
    pub(crate) dir: PathBuf,
}

impl Callgrind {
    /// Runs `phase`, then returns the instructions the process executed meanwhile and how long
    /// the phase took; its profile is left as `<dir>/<name>`.
    pub(crate) async fn count<F: std::future::Future<Output = ()>>(
        &self,
        name: &str,
        phase: F,
    ) -> (u64, Duration) {
        self.control("-z").await;
        let started = Instant::now();
        phase.await;
        let took = started.elapsed();
        self.control("-d").await;
        // The dump is the one file named `phase.<n>`.
        let dumped = std::fs::read_dir(&self.dir)
            .expect("the profile directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("phase."))
            })
            .expect("callgrind dumped the phase");
        let text = std::fs::read_to_string(&dumped).expect("the dumped profile");
        let total = text
            .lines()
            .find_map(|l| l.strip_prefix("totals: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("a callgrind profile with its totals");
        std::fs::rename(&dumped, self.dir.join(name)).expect("keep the profile");
        (total, took)
    }

    /// Asks callgrind to act on the process, waiting without blocking the runtime: the process
    /// may be this one, which must keep running to read the request.
    async fn control(&self, what: &str) {
        let mut child = Command::new("callgrind_control")
            .args([what, &self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("callgrind_control (valgrind's) runs");
        loop {
            if let Some(status) = child.try_wait().expect("callgrind_control's status") {
                assert!(status.success(), "callgrind_control {what} failed");
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The next argument as a whole number above 0, `default` when there is none; exits naming
/// the problem when it is something else.
pub(crate) fn count_arg(
    args: &mut impl Iterator<Item = String>,
    program: &str,
    what: &str,
    default: u64,
) -> u64 {
    match args.next() {
        None => default,
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("{program}: {what} must be a whole number above 0, not `{arg}`");
                std::process::exit(2);
            }
        },
    }
}

/// The next argument as a directory, else a new one in the temporary directory named after
/// `program`; created either way.
pub(crate) fn dir_arg(args: &mut impl Iterator<Item = String>, program: &str) -> PathBuf {
    let dir = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("{program}-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).expect("the profile directory");
    dir
}
