//! How a command fails: [`CliError`], one line with a hint and an exit code, and
//! [`report`], which prints it.

use std::fmt;
use std::process::ExitCode;

/// A failed command: one line, with a hint when there is something to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// The exit code.
    pub code: u8,
}

impl CliError {
    /// A failure (exit code 1).
    pub fn new(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), hint: None, code: 1 }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), hint: None, code: 2 }
    }

    /// Exit with `code` and print nothing (a program run for the user, e.g. psql,
    /// has said what went wrong itself).
    pub fn exit(code: u8) -> CliError {
        CliError { message: String::new(), hint: None, code }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// Prints `error: ...` (nothing for [`CliError::exit`]) and returns the exit code.
pub fn report(error: &CliError) -> ExitCode {
    use std::io::Write;
    if !error.message.is_empty() {
        let _ = writeln!(std::io::stderr().lock(), "error: {error}");
    }
    ExitCode::from(error.code)
}
