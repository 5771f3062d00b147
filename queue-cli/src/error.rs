//! The command's one error type: a one-line message and the exit code it ends with.

use std::fmt;

/// Exit code of a failed command (storage refused, nothing found...).
pub(crate) const FAILURE: i32 = 1;
/// Exit code of input the command could not read (bad JSON, bad duration, bad arguments).
pub(crate) const USAGE: i32 = 2;

/// Why a command failed, as one line for stderr.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    code: i32,
}

impl CliError {
    /// A failure of the command itself (exit code 1).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: FAILURE,
        }
    }

    /// Input the command could not use (exit code 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: USAGE,
        }
    }

    /// The exit code to end with.
    pub(crate) fn code(&self) -> i32 {
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the source put in it.
        let mut first = true;
        for line in self
            .message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(line)?;
            first = false;
        }
        Ok(())
    }
}

impl From<queue_core::Error> for CliError {
    fn from(error: queue_core::Error) -> Self {
        let code = match error {
            queue_core::Error::InvalidName { .. }
            | queue_core::Error::InvalidUrl { .. }
            | queue_core::Error::PayloadTooLarge { .. }
            | queue_core::Error::InvalidQuery { .. } => USAGE,
            _ => FAILURE,
        };
        let mut message = error.to_string();
        message.push_str(hint(&message));
        Self { message, code }
    }
}

/// What to do about a storage error whose text alone would leave the user guessing.
fn hint(message: &str) -> &'static str {
    if message.contains("NOAUTH") {
        " (the server requires a password: put it in the URL, `redis://:PASSWORD@host:port/0`)"
    } else if message.contains("AuthenticationFailed") || message.contains("WRONGPASS") {
        " (check the user name and password in the URL)"
    } else {
        ""
    }
}

/// The result of a command.
pub(crate) type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let error = CliError::failed("first\n\n  second  \r\nthird");
        assert_eq!(error.to_string(), "first second third");
        assert_eq!(error.code(), FAILURE);
    }
}
