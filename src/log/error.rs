//! What can go wrong with a log, said so that a person can act on it.

use super::batch::BatchError;
use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum LogError {
    /// The operating system refused an operation on a file.
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// Bytes the log had already made durable and trusted do not read back.
    Corrupt {
        path: PathBuf,
        position: u64,
        problem: String,
    },
    /// A checkpoint file that is not what this log writes.
    Checkpoint {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    /// A batch handed to an append is refused; nothing of the call was written.
    InvalidBatch { batch: usize, problem: BatchError },
    /// A follower's batch does not start where the log ends.
    NonContiguous { expected: u64, got: u64 },
    /// An offset outside `[log start, log end]`.
    OffsetOutOfRange {
        requested: u64,
        start: u64,
        end: u64,
    },
    /// An append with nothing in it.
    Empty,
}

impl LogError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl FnOnce(io::Error) -> LogError {
        let path = path.into();
        move |source| LogError::Io {
            path,
            action,
            source,
        }
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            LogError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            LogError::Corrupt {
                path,
                position,
                problem,
            } => write!(
                f,
                "{} is corrupt at byte {position}, below the flushed point: {problem}",
                path.display()
            ),
            LogError::Checkpoint {
                path,
                line,
                problem,
            } => write!(f, "{}:{line}: {problem}", path.display()),
            LogError::InvalidBatch { batch, problem } => {
                write!(f, "batch {batch} of the append is refused: {problem}")
            }
            LogError::NonContiguous { expected, got } => write!(
                f,
                "a follower batch starts at offset {got} but the log ends at {expected}"
            ),
            LogError::OffsetOutOfRange {
                requested,
                start,
                end,
            } => write!(
                f,
                "offset {requested} is out of range: the log holds {start}..{end}"
            ),
            LogError::Empty => write!(f, "an append carries no batch"),
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
