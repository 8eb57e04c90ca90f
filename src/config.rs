//! Defaults and the config file: where backups go, where the cache and the
//! metrics log live, per platform. Windows keeps ORIGINAL.md's three folders.

use std::path::{Path, PathBuf};

use crate::Result;

/// `config.json` in the user's config folder: set destinations, excludes and
/// webhooks once. Every key optional.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub destinations: Vec<PathBuf>,
    pub exclude: Vec<String>,
    pub include: Vec<String>,
    pub webhooks: Vec<String>,
    pub metrics_log_dir: Option<PathBuf>,
    pub disk_warning_percent: Option<f64>,
}

/// `<config_dir>/backup-repo/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("backup-repo").join("config.json"))
}

/// Load a config file; a missing file is the empty config, a malformed one an
/// error naming the file and the problem.
pub fn load(_path: &Path) -> Result<Config> {
    todo!("config: load")
}

/// Windows: `<Desktop>\repo backup`, `N:\backup\dev\repos2`,
/// `$OneDrive\repo-backups` (as the original). Elsewhere:
/// `<data_dir>/backup-repo/backups`.
pub fn default_destinations() -> Vec<PathBuf> {
    todo!("config: default destinations")
}

/// `<cache_dir>/backup-repo`.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("backup-repo"))
}

/// Windows: `%APPDATA%\backup-metrics` (as the original); elsewhere
/// `<data_dir>/backup-repo/metrics`.
pub fn default_metrics_dir() -> Option<PathBuf> {
    todo!("config: metrics dir")
}
