//! [`Failure`]: why a command failed, and the exit code that says so.

use std::fmt;
use std::process::ExitCode;

/// A command's failure: a message a person can act on, and its kind (the exit code).
#[derive(Debug)]
pub enum Failure {
    /// The operation failed (exit 1).
    Failed(String),
    /// io_uring cannot be set up here (exit 3).
    Unavailable(String),
    /// Interrupted by SIGINT (exit 130).
    Interrupted(String),
}

impl Failure {
    /// A failed operation on `path`: "`what` `path`: `err`".
    pub fn io(what: &str, path: &std::path::Path, err: impl fmt::Display) -> Self {
        Self::Failed(format!("{what} {}: {err}", path.display()))
    }

    /// A failure from setting up the ring: unavailable io_uring gets its own exit code.
    pub fn ring(err: safer_ring::SaferRingError) -> Self {
        match err {
            safer_ring::SaferRingError::Unavailable(why) => Self::Unavailable(format!(
                "io_uring is unavailable: {why} (run `safer-ring probe` for details)"
            )),
            other => Self::Failed(format!("cannot set up io_uring: {other}")),
        }
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Failed(_) => 1,
            Self::Unavailable(_) => 3,
            Self::Interrupted(_) => 130,
        })
    }

    /// The same failure with `note` appended to its message.
    pub fn with_note(self, note: &str) -> Self {
        match self {
            Self::Failed(m) => Self::Failed(format!("{m}; {note}")),
            Self::Unavailable(m) => Self::Unavailable(format!("{m}; {note}")),
            Self::Interrupted(m) => Self::Interrupted(format!("{m}; {note}")),
        }
    }
}

/// What a program's `main` returns: success, or `program: failure` on stderr and the
/// failure's exit code.
pub fn exit_with(program: &str, result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{program}: {failure}");
            failure.exit_code()
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(m) | Self::Unavailable(m) | Self::Interrupted(m) => f.write_str(m),
        }
    }
}
