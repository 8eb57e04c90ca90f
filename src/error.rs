//! One public error type with a small kind enum; modules attach context
//! (the path or option at fault) rather than re-wrapping.

use std::path::Path;

/// What went wrong, coarse enough for a caller to branch on. The C ABI maps
/// each kind to a fixed `br_status` number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// An option or argument is malformed (names the option).
    InvalidArgument,
    /// The source folder is not a repository (no .git, pyproject.toml or package.json).
    NotARepository,
    /// A path does not exist.
    NotFound,
    /// Any other I/O failure (names the path).
    Io,
    /// No space left on a destination.
    NoSpace,
    /// The caller cancelled (progress callback or Ctrl+C).
    Cancelled,
    /// An archive is damaged, not ours, or unsafe (zip-slip, CRC, manifest mismatch).
    BadArchive,
    /// Another run holds the lock on this repository.
    Busy,
    /// A source file changed (or vanished) between selection and archiving;
    /// a run starts over once from a fresh selection. The C ABI reports it
    /// as an I/O error.
    SourceChanged,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, "cancelled")
    }

    /// An I/O error with the path and the action that failed, classified so
    /// that "not found" and "no space" stay distinguishable.
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::StorageFull => ErrorKind::NoSpace,
            _ if err.raw_os_error() == Some(28) => ErrorKind::NoSpace, // ENOSPC
            _ => ErrorKind::Io,
        };
        let what = match kind {
            ErrorKind::NoSpace => "no space left on device".to_string(),
            _ => err.to_string(),
        };
        Error::new(kind, format!("cannot {action} '{}': {what}", path.display()))
    }

    pub fn bad_archive(path: &Path, why: impl std::fmt::Display) -> Self {
        Error::new(ErrorKind::BadArchive, format!("'{}': {why}", path.display()))
    }
}
