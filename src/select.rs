//! Which files a backup holds.
//!
//! Rules (ORIGINAL.md, with its bug fixed): each default exclusion is a
//! gitignore-style glob matched against path *components*, never a regex over
//! the full path, so `env` drops a folder named `env` but not `environment.py`.
//! `.git/` is included on purpose. Symlinks are never followed: they are
//! skipped and reported, as are FIFOs, sockets and devices. Output is sorted
//! by relative path (forward slashes) so every later step is deterministic.

use std::path::{Path, PathBuf};

use crate::progress::Control;
use crate::Result;

/// The original script's exclusions, always applied.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    ".venv", "venv", "env", ".env", "__pycache__", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", "htmlcov", "node_modules", "*.pyc", "*.pyo", "*.pyd", ".DS_Store",
    "Thumbs.db", ".windsurf", ".cursor", "*.log", ".vbox", "*.vdi", "*.vmdk", "*.vhd",
    "*.vbox", "*.vbox-prev", "MagicMock", "sandboxes", "quarantine", "analysis", "backups",
    "*.dxt", "samples/metadata.db", "samples/test_library.db", "test_data/*.db",
];

/// Build output, excluded unless `include_build`.
pub const BUILD_EXCLUDES: &[&str] = &["dist", "build", "*.whl", "*.tar.gz"];

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectOptions {
    /// Keep build output (`dist`, `build`, `*.whl`, `*.tar.gz`).
    pub include_build: bool,
    /// Extra gitignore-style globs to exclude.
    pub exclude: Vec<String>,
    /// Globs that win over every exclusion (e.g. `!`-style re-inclusion).
    pub include: Vec<String>,
    /// Also honour the repository's .gitignore files.
    pub respect_gitignore: bool,
}

/// One file chosen for the backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelectedFile {
    /// Relative to the source root, `/`-separated: the ZIP entry name.
    pub rel: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
    /// Inode (Unix) or file index (Windows) where known; part of the stat-cache key.
    pub file_id: Option<u64>,
}

/// A path left out by a rule: `rule` is the glob as written (or `.gitignore`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Excluded {
    pub path: String,
    pub rule: String,
}

/// A path not backed up for a reason other than a rule (symlink, FIFO,
/// unreadable, name not valid UTF-8 ...). Never dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    pub files: Vec<SelectedFile>,
    pub excluded: Vec<Excluded>,
    pub skipped: Vec<Skipped>,
}

impl Selection {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The compiled rules (pure: no disk). `matched_rule(rel, is_dir)` says which
/// rule, if any, excludes a relative path.
pub struct Rules {
    _private: (),
}

impl Rules {
    pub fn new(_opts: &SelectOptions) -> Result<Rules> {
        todo!("select: compile rules")
    }

    /// The rule (as written) that excludes `rel`, or None when it is kept.
    pub fn matched_rule(&self, _rel: &str, _is_dir: bool) -> Option<&str> {
        todo!("select: match")
    }
}

/// Walk `root` and choose files. Errors name the path at fault.
pub fn select(_root: &Path, _opts: &SelectOptions, _control: &Control) -> Result<Selection> {
    todo!("select: walk")
}
