//! Running the built `queue` binary as a real process and reading what it printed.
#![allow(dead_code, unreachable_pub)]

use std::process::Command;

/// What one run of the command printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON it printed on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts the run succeeded and returns itself.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "the command failed: {self:#?}");
        self
    }

    /// Asserts the run failed with `code` and printed exactly one line on stderr besides notes,
    /// `error: ...`; returns that line.
    pub fn error_line(&self, code: i32) -> String {
        assert_eq!(self.code, code, "exit code: {self:#?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.starts_with("note: "))
            .collect();
        assert_eq!(lines.len(), 1, "one error line: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(self.stdout.is_empty(), "nothing on stdout: {self:#?}");
        lines[0].to_string()
    }

    /// The rows of the table on stdout whose first cell is `first`, split into cells.
    pub fn rows_starting(&self, first: &str) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .filter(|cells| cells.first().is_some_and(|c| c == first))
            .collect()
    }
}

/// Runs `queue` with `args` against `url` (`None`: no --url and no QUEUE_URL).
pub fn queue(url: Option<&str>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_queue"));
    command.env_remove("QUEUE_URL").env_remove("NO_COLOR");
    if let Some(url) = url {
        command.arg("--url").arg(url);
    }
    let output = command.args(args).output().expect("the queue binary runs");
    Run {
        code: output
            .status
            .code()
            .expect("the command exited (not killed by a signal)"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Like [`queue`], with `QUEUE_URL` set to `url` instead of passing --url.
pub fn queue_with_env(url: &str, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_queue"))
        .env("QUEUE_URL", url)
        .args(args)
        .output()
        .expect("the queue binary runs");
    Run {
        code: output.status.code().expect("the command exited"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}
