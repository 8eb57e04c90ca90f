//! BackupRepo engine: select, fingerprint, archive, place, catalogue and prune
//! repository backups. Pure Rust; the C ABI lives in [`ffi`] and nowhere else.
//!
//! One module per job (docs/ARCHITECTURE.md): a reader finds a behaviour by its name.

pub mod archive;
pub mod backup;
pub mod catalog;
pub mod compare;
pub mod config;
pub mod destinations;
pub mod environment;
pub mod error;
pub mod fanout;
pub mod ffi;
pub mod fingerprint;
pub mod history;
pub mod identity;
pub mod metrics;
pub mod naming;
pub mod notify;
pub mod progress;
pub mod prune;
pub mod report;
pub mod retention;
pub mod schedule;
pub mod select;
pub mod source_fingerprint;
pub mod units;

pub use error::{Error, ErrorKind, Result};

/// The library's version, from Cargo.toml (the one version source).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
