//! Defaults and the config file: where backups go, where the cache and the
//! metrics log live, per platform. Windows keeps the old script's three folders (docs/COMPATIBILITY.md).
//!
//! Rules:
//! - A missing config file is the empty config; a malformed one (including
//!   unknown keys) is an error naming the file, never silently ignored.
//! - `BACKUP_REPO_DESTINATIONS` (a path list, `;` on Windows, `:` elsewhere)
//!   replaces the platform default destinations when set and not empty; a
//!   relative entry in it is an error (relative to what? the current folder
//!   is usually the repository, and backups there would back up themselves).
//! - A relative destination in the config file is relative to the config
//!   file's folder, never the current one; an empty one is an error naming
//!   the file.
//! - Platform choices are made with `cfg!(windows)` on plain values, so every
//!   branch compiles (and its pure part is tested) on every platform.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::{environment, Error, Result};

/// Environment variable that overrides the default destinations.
pub const DESTINATIONS_ENV: &str = "BACKUP_REPO_DESTINATIONS";

/// The network drive of the original script.
const N_DRIVE: &str = r"N:\backup\dev\repos2";

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
    environment::config_dir().map(|d| d.join("backup-repo").join("config.json"))
}

/// Load a config file; a missing file is the empty config, a malformed one an
/// error naming the file and the problem. An empty (or blank) file is the
/// empty config too.
pub fn load(path: &Path) -> Result<Config> {
    let text = match read_limited(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => return Err(too_large(path)),
        Err(e) => return Err(Error::io("read config file", path, e)),
    };
    parse(&text, path)
}

/// The largest config file read (a real one is a few hundred bytes; a huge
/// one would only exhaust memory).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The error for a file over [`MAX_CONFIG_BYTES`].
fn too_large(path: &Path) -> Error {
    Error::invalid(format!(
        "invalid config file '{}': more than a config file can be ({} KiB); a config file is a few lines of JSON: is it the right file?",
        path.display(),
        MAX_CONFIG_BYTES / 1024
    ))
}

/// The file's text, at most [`MAX_CONFIG_BYTES`] (`FileTooLarge` beyond),
/// never reading more than that.
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::new(std::io::ErrorKind::FileTooLarge, "config file too large"));
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Parse config text; `path` only names the file in errors. JSON with
/// comments (`//`, `/* */`) and trailing commas, as editors write it (and as
/// the module always accepted). An error names the file, the line and the
/// key, and for an unknown key the known one it most resembles.
fn parse(text: &str, path: &Path) -> Result<Config> {
    // Windows PowerShell 5.1 and Notepad write a UTF-8 byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let clean = plain_json(text);
    if clean.trim().is_empty() {
        return Ok(Config::default());
    }
    // serde would also accept an array for a struct; a config is an object.
    if !clean.trim_start().starts_with('{') {
        return Err(Error::invalid(format!(
            "invalid config file '{}': expected a JSON object ({{ ... }})",
            path.display()
        )));
    }
    let mut config: Config = serde_json::from_str(&clean).map_err(|e| config_error(path, &clean, &e))?;
    if let Some(i) = config.destinations.iter().position(|d| d.as_os_str().is_empty()) {
        return Err(Error::invalid(format!(
            "invalid config file '{}': destinations[{i}] is empty; name a folder, or remove the entry",
            path.display()
        )));
    }
    let folder = std::path::absolute(path).ok().and_then(|p| p.parent().map(Path::to_path_buf));
    if let Some(folder) = folder {
        for d in config.destinations.iter_mut().filter(|d| d.is_relative()) {
            *d = folder.join(&*d);
        }
    }
    if let Some(p) = config.disk_warning_percent {
        if !(0.0..=100.0).contains(&p) {
            return Err(Error::invalid(format!(
                "invalid config file '{}': disk_warning_percent must be between 0 and 100, not {p}",
                path.display()
            )));
        }
    }
    Ok(config)
}

/// The config file's keys (the fields of [`Config`]).
const CONFIG_KEYS: &[&str] =
    &["destinations", "exclude", "include", "webhooks", "metrics_log_dir", "disk_warning_percent"];

/// `text` with comments and trailing commas turned into spaces (so lines and
/// columns stay where they were): plain JSON. Pure.
fn plain_json(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let (mut i, mut in_string) = (0, false);
    // Where the last comma outside a string is, while only blanks followed it.
    let mut pending_comma: Option<usize> = None;
    while i < b.len() {
        let c = b[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match (c, b.get(i + 1)) {
            (b'/', Some(b'/')) => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            (b'/', Some(b'*')) => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                for o in &mut out[i..end] {
                    if *o != b'\n' {
                        *o = b' ';
                    }
                }
                i = end;
                continue;
            }
            (b'"', _) => {
                in_string = true;
                pending_comma = None;
            }
            (b',', _) => pending_comma = Some(i),
            (b'}' | b']', _) => {
                if let Some(comma) = pending_comma.take() {
                    out[comma] = b' ';
                }
            }
            (c, _) if c.is_ascii_whitespace() => {}
            _ => pending_comma = None,
        }
        i += 1;
    }
    // Only ASCII bytes were replaced (by spaces): still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// A config parse error naming the file, the line and the key.
fn config_error(path: &Path, text: &str, e: &serde_json::Error) -> Error {
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let unknown = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next());
    let (key, hint) = match unknown {
        Some(key) => {
            let hint = closest_key(key).map(|k| format!("; did you mean '{k}'?")).unwrap_or_else(|| {
                format!(
                    "; the keys are {}",
                    CONFIG_KEYS.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
                )
            });
            (Some(key.to_string()), hint)
        }
        None => (key_before(text, e.line(), e.column()), String::new()),
    };
    let at_key = key.map(|k| format!(", key '{k}'")).unwrap_or_default();
    let what = if unknown.is_some() { "unknown key".to_string() } else { message };
    Error::invalid(format!("invalid config file '{}', line {}{at_key}: {what}{hint}", path.display(), e.line()))
}

/// The known key closest to `key` (a typo, a missing `s`), if any is close.
fn closest_key(key: &str) -> Option<&'static str> {
    let key = key.to_lowercase().replace('-', "_");
    CONFIG_KEYS
        .iter()
        .map(|k| (edit_distance(&key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance. Pure.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The last `"key":` before line `line`, column `column` (1-based) of `text`.
fn key_before(text: &str, line: usize, column: usize) -> Option<String> {
    let offset: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum::<usize>() + column;
    let before = &text[..offset.min(text.len())];
    let colon = before.rfind(':')?;
    let quoted = before[..colon].trim_end().strip_suffix('"')?;
    let start = quoted.rfind('"')?;
    Some(quoted[start + 1..].to_string())
}

/// Windows: `<Desktop>\repo backup`, `N:\backup\dev\repos2`,
/// `$OneDrive\repo-backups` (as the original). Elsewhere:
/// `<data_dir>/backup-repo/backups`. `BACKUP_REPO_DESTINATIONS` replaces
/// either when set.
pub fn default_destinations() -> Result<Vec<PathBuf>> {
    if let Some(from_env) = env_destinations(environment::var_os(DESTINATIONS_ENV).as_deref()) {
        if let Some(relative) = from_env.iter().find(|d| d.is_relative()) {
            return Err(Error::invalid(format!(
                "{DESTINATIONS_ENV}: '{}' is a relative path; give every destination as a full path",
                relative.display()
            )));
        }
        return Ok(from_env);
    }
    Ok(platform_destinations())
}

/// The platform's own defaults (see [`default_destinations`]).
fn platform_destinations() -> Vec<PathBuf> {
    if cfg!(windows) {
        windows_defaults(dirs::desktop_dir(), environment::var_os("OneDrive").as_deref())
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    } else {
        other_defaults(environment::data_dir(), environment::home_dir())
    }
}

/// The destinations named by the override variable, or None when it is
/// unset or names nothing.
fn env_destinations(value: Option<&OsStr>) -> Option<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> = std::env::split_paths(value?).filter(|p| !p.as_os_str().is_empty()).collect();
    (!dirs.is_empty()).then_some(dirs)
}

/// The original script's three folders with their display names; the
/// desktop one when the desktop is known, the OneDrive one when `OneDrive`
/// is set.
fn windows_defaults(desktop: Option<PathBuf>, onedrive: Option<&OsStr>) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    if let Some(desktop) = desktop {
        out.push(("desktop", desktop.join("repo backup")));
    }
    out.push(("n-drive", PathBuf::from(N_DRIVE)));
    if let Some(onedrive) = onedrive.filter(|o| !o.is_empty()) {
        out.push(("onedrive", PathBuf::from(onedrive).join("repo-backups")));
    }
    out
}

/// `<data_dir>/backup-repo/backups`, falling back to
/// `~/.local/share/backup-repo/backups`.
fn other_defaults(data_dir: Option<PathBuf>, home: Option<PathBuf>) -> Vec<PathBuf> {
    data_dir
        .or_else(|| home.map(|h| h.join(".local").join("share")))
        .map(|d| d.join("backup-repo").join("backups"))
        .into_iter()
        .collect()
}

/// `desktop`, `n-drive` or `onedrive` for the original's folders, else the
/// folder's own name (or the whole path when it has none, like `D:\` or `/`).
pub fn destination_display_name(root: &Path) -> String {
    let onedrive: Option<OsString> = environment::var_os("OneDrive");
    display_name_with(root, &windows_defaults(dirs::desktop_dir(), onedrive.as_deref()))
}

fn display_name_with(root: &Path, known: &[(&'static str, PathBuf)]) -> String {
    let key = comparable(root);
    if let Some((name, _)) = known.iter().find(|(_, p)| comparable(p) == key) {
        return (*name).to_string();
    }
    match root.file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => root.display().to_string(),
    }
}

/// A path as text for loose comparison: either slash, no trailing
/// separator, any case (Windows paths are case-insensitive).
fn comparable(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/").to_lowercase();
    let trimmed = s.trim_end_matches('/');
    if trimmed.is_empty() {
        s
    } else {
        trimmed.to_string()
    }
}

/// Environment variable naming the config file (overrides the default path).
pub const CONFIG_ENV: &str = "BACKUP_REPO_CONFIG";

/// The config file in use: `BACKUP_REPO_CONFIG` when set, else
/// [`default_config_path`].
pub fn config_path() -> Option<PathBuf> {
    environment::var_os(CONFIG_ENV).filter(|v| !v.is_empty()).map(PathBuf::from).or_else(default_config_path)
}

/// The config file in use, loaded ([`load`]); none is the empty config.
pub fn load_current() -> Result<Config> {
    match config_path() {
        Some(p) => load(&p),
        None => Ok(Config::default()),
    }
}

/// Destination roots: `explicit` when given, else the config file's, else
/// the platform defaults. May be empty (see [`destination_roots`]).
pub fn resolve_destinations(explicit: &[PathBuf]) -> Result<Vec<PathBuf>> {
    resolve_destinations_with(explicit, load_current)
}

/// [`resolve_destinations`] with the config supplied by the caller, who may
/// have it already; `config` is called only when `explicit` is empty.
fn resolve_destinations_with(explicit: &[PathBuf], config: impl FnOnce() -> Result<Config>) -> Result<Vec<PathBuf>> {
    if !explicit.is_empty() {
        return Ok(explicit.to_vec());
    }
    let from_config = config()?.destinations;
    if !from_config.is_empty() {
        return Ok(from_config);
    }
    default_destinations()
}

/// [`resolve_destinations`], refusing none at all and empty paths: what a
/// backup, a history listing and retention all start from.
pub fn destination_roots(explicit: &[PathBuf]) -> Result<Vec<PathBuf>> {
    destination_roots_with(explicit, load_current)
}

/// [`destination_roots`] with the config supplied by the caller (a backup
/// reads the file once for everything it takes from it).
pub fn destination_roots_with(explicit: &[PathBuf], config: impl FnOnce() -> Result<Config>) -> Result<Vec<PathBuf>> {
    let roots = resolve_destinations_with(explicit, config)?;
    if roots.is_empty() {
        return Err(Error::invalid("no destinations: pass 'destinations' or set them in the config file"));
    }
    if roots.iter().any(|r| r.as_os_str().is_empty()) {
        return Err(Error::invalid("a destination is an empty path"));
    }
    Ok(roots)
}

/// The metrics log folder: `explicit`, else the config file's, else
/// [`default_metrics_dir`].
pub fn metrics_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| metrics_dir_of(&load_current().unwrap_or_default()))
}

/// Environment variable naming the metrics folder (wins over the config file).
pub const METRICS_DIR_ENV: &str = "BACKUP_REPO_METRICS_DIR";

/// The metrics folder when no run names one: `BACKUP_REPO_METRICS_DIR`,
/// else `config`'s, else [`default_metrics_dir`].
pub fn metrics_dir_of(config: &Config) -> Option<PathBuf> {
    environment::var_os(METRICS_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| config.metrics_log_dir.clone())
        .or_else(default_metrics_dir)
}

/// Where things live, for front ends (defaults, argument completion).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Locations {
    /// The config file in use (it may not exist).
    pub config_path: Option<PathBuf>,
    pub config_exists: bool,
    pub cache_dir: Option<PathBuf>,
    pub metrics_dir: Option<PathBuf>,
}

/// [`Locations`] as this process sees them (environment and config file).
pub fn locations() -> Locations {
    let config_path = config_path();
    Locations {
        config_exists: config_path.as_deref().is_some_and(Path::is_file),
        config_path,
        cache_dir: default_cache_dir(),
        metrics_dir: metrics_dir(None),
    }
}

/// What `br_config_read` takes: which config file (default: the one
/// `BACKUP_REPO_CONFIG` names, else the platform's).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigQuery {
    pub config_path: Option<PathBuf>,
}

/// The config file and everything a front end takes from it, resolved by
/// the engine's rules (one implementation for every layer).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigView {
    /// The file read (it may not exist).
    pub path: Option<PathBuf>,
    pub exists: bool,
    /// Its content, destinations resolved against its folder.
    pub config: Config,
    /// What a run without explicit destinations uses, named.
    pub destinations: Vec<NamedDestination>,
    pub cache_dir: Option<PathBuf>,
    /// The metrics log folder: the config's, else the platform's.
    pub metrics_dir: Option<PathBuf>,
}

/// Read the config file `query` names (or the current one) and resolve
/// what depends on it. A malformed file is an error naming it.
pub fn read_config(query: &ConfigQuery) -> Result<ConfigView> {
    let path = query.config_path.clone().or_else(config_path);
    let config = match &path {
        Some(p) => load(p)?,
        None => Config::default(),
    };
    let roots = resolve_destinations_with(&[], || Ok(config.clone()))?;
    Ok(ConfigView {
        exists: path.as_deref().is_some_and(Path::is_file),
        path,
        destinations: roots
            .into_iter()
            .map(|path| NamedDestination { name: destination_display_name(&path), path })
            .collect(),
        cache_dir: default_cache_dir(),
        metrics_dir: metrics_dir_of(&config),
        config,
    })
}

/// One destination root with its display name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedDestination {
    pub name: String,
    pub path: PathBuf,
}

/// The destinations a run without explicit ones would use, named.
pub fn named_destinations() -> Result<Vec<NamedDestination>> {
    Ok(resolve_destinations(&[])?
        .into_iter()
        .map(|path| NamedDestination { name: destination_display_name(&path), path })
        .collect())
}

/// `<cache_dir>/backup-repo`.
pub fn default_cache_dir() -> Option<PathBuf> {
    environment::cache_dir().map(|d| d.join("backup-repo"))
}

/// Windows: `%APPDATA%\backup-metrics` (as the original); elsewhere
/// `<data_dir>/backup-repo/metrics`.
pub fn default_metrics_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        // config_dir() is %APPDATA% (Roaming) on Windows.
        environment::config_dir().map(|d| d.join("backup-metrics"))
    } else {
        environment::data_dir().map(|d| d.join("backup-repo").join("metrics"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn missing_file_is_default() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(load(&tmp.path().join("config.json")).unwrap(), Config::default());
    }

    #[test]
    fn a_huge_file_is_refused_without_reading_it_all() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("config.json");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(70 * 1024 * 1024).unwrap(); // sparse: 70 MB of NULs
        let e = load(&p).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidArgument);
        assert!(
            e.message.contains("more than a config file can be (1024 KiB)") && e.message.contains("config.json"),
            "{}",
            e.message
        );
        // Just at the limit is read (and judged as JSON).
        std::fs::write(&p, format!("{{\"exclude\": [\"{}\"]}}", "x".repeat(1000))).unwrap();
        assert_eq!(load(&p).unwrap().exclude.len(), 1);
    }

    #[test]
    fn loads_every_key() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"destinations": ["/a", "/b"], "exclude": ["*.tmp"], "include": ["keep/**"],
                "webhooks": ["https://example.invalid/hook"], "metrics_log_dir": "/m",
                "disk_warning_percent": 90}"#,
        )
        .unwrap();
        let c = load(&p).unwrap();
        assert_eq!(c.destinations, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.exclude, vec!["*.tmp"]);
        assert_eq!(c.include, vec!["keep/**"]);
        assert_eq!(c.webhooks.len(), 1);
        assert_eq!(c.metrics_log_dir, Some(PathBuf::from("/m")));
        assert_eq!(c.disk_warning_percent, Some(90.0));
    }

    #[rstest]
    #[case("", true)]
    #[case("  \n", true)]
    #[case("{}", true)]
    #[case(r#"{"exclude": []}"#, true)]
    #[case("\u{feff}{\"exclude\": []}", true)]
    #[case(r#"{"destinatons": []}"#, false)]
    #[case(r#"{"exclude": "*.tmp"}"#, false)]
    #[case("{", false)]
    #[case("[]", false)]
    #[case(r#"{"disk_warning_percent": 150}"#, false)]
    fn parse_cases(#[case] text: &str, #[case] ok: bool) {
        let r = parse(text, Path::new("/x/config.json"));
        assert_eq!(r.is_ok(), ok, "{r:?}");
        if let Err(e) = r {
            assert_eq!(e.kind, crate::ErrorKind::InvalidArgument);
            assert!(e.message.contains("'/x/config.json'"), "{}", e.message);
        }
    }

    #[test]
    fn malformed_file_names_file_and_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("config.json");
        std::fs::write(&p, r#"{"destinatons": []}"#).unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.message.contains(&p.display().to_string()), "{}", e.message);
        assert!(
            e.message.contains("line 1, key 'destinatons': unknown key; did you mean 'destinations'?"),
            "{}",
            e.message
        );
    }

    #[test]
    fn comments_and_trailing_commas_are_accepted_as_editors_write_them() {
        let text = r#"{
            // where backups go
            "destinations": ["/a", "/b",], /* two of them */
            "exclude": ["*.tmp", "http://not/a/comment"],
        }"#;
        let c = parse(text, Path::new("/x/config.json")).unwrap();
        assert_eq!(c.destinations, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.exclude, ["*.tmp", "http://not/a/comment"]);
        assert_eq!(parse("// nothing\n", Path::new("/x/c.json")).unwrap(), Config::default());
    }

    #[rstest]
    #[case("{\n  \"destination\": [\"/a\"]\n}", "line 2, key 'destination': unknown key; did you mean 'destinations'?")]
    #[case("{\"Exclude\": []}", "key 'Exclude': unknown key; did you mean 'exclude'?")]
    #[case("{\"webhook\": []}", "did you mean 'webhooks'?")]
    #[case("{\"colour\": 1}", "unknown key; the keys are 'destinations', 'exclude'")]
    #[case(
        "{\n\"exclude\": [],\n\"disk_warning_percent\": \"90\"\n}",
        "line 3, key 'disk_warning_percent': invalid type: string \"90\", expected f64"
    )]
    fn errors_name_the_line_and_the_key(#[case] text: &str, #[case] want: &str) {
        let e = parse(text, Path::new("/x/config.json")).unwrap_err();
        assert!(e.message.starts_with("invalid config file '/x/config.json'"), "{}", e.message);
        assert!(e.message.contains(want), "{}", e.message);
    }

    #[test]
    fn read_config_resolves_what_depends_on_the_file_from_the_given_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("config.json");
        std::fs::write(&p, r#"{ "destinations": ["bk"], "metrics_log_dir": "/m", }"#).unwrap();
        let vars = |pairs: &[(&str, &str)]| Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let config = p.display().to_string();
        let view = environment::with_explicit(vars(&[("BACKUP_REPO_CONFIG", &config)]), || {
            read_config(&ConfigQuery::default()).unwrap()
        });
        assert_eq!(view.path.as_deref(), Some(p.as_path()));
        assert!(view.exists);
        assert_eq!(view.destinations[0].path, tmp.path().join("bk"));
        assert_eq!(view.metrics_dir, Some(PathBuf::from("/m")));
        let view =
            environment::with_explicit(vars(&[("BACKUP_REPO_CONFIG", &config), (METRICS_DIR_ENV, "/env")]), || {
                read_config(&ConfigQuery::default()).unwrap()
            });
        assert_eq!(view.metrics_dir, Some(PathBuf::from("/env")), "the variable wins over the file");
    }

    #[test]
    fn unreadable_config_is_an_io_error() {
        let tmp = tempfile::tempdir().unwrap();
        // A folder where the file should be.
        let e = load(tmp.path()).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Io);
    }

    #[test]
    fn env_override_splits_paths() {
        let joined = std::env::join_paths(["/one", "/two"]).unwrap();
        assert_eq!(env_destinations(Some(&joined)), Some(vec![PathBuf::from("/one"), PathBuf::from("/two")]));
        assert_eq!(env_destinations(Some(OsStr::new(""))), None);
        assert_eq!(env_destinations(None), None);
    }

    #[test]
    fn windows_defaults_are_the_originals() {
        let d =
            windows_defaults(Some(PathBuf::from(r"C:\Users\me\Desktop")), Some(OsStr::new(r"C:\Users\me\OneDrive")));
        let names: Vec<_> = d.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, vec!["desktop", "n-drive", "onedrive"]);
        assert_eq!(d[0].1, PathBuf::from(r"C:\Users\me\Desktop").join("repo backup"));
        assert_eq!(d[1].1, PathBuf::from(r"N:\backup\dev\repos2"));
        assert_eq!(d[2].1, PathBuf::from(r"C:\Users\me\OneDrive").join("repo-backups"));
        // No OneDrive (or an empty one), no desktop: only the network drive.
        assert_eq!(windows_defaults(None, Some(OsStr::new(""))).len(), 1);
        assert_eq!(windows_defaults(None, None)[0].0, "n-drive");
    }

    #[test]
    fn other_defaults_use_data_dir_then_home() {
        assert_eq!(
            other_defaults(Some(PathBuf::from("/data")), Some(PathBuf::from("/home/me"))),
            vec![PathBuf::from("/data/backup-repo/backups")]
        );
        assert_eq!(
            other_defaults(None, Some(PathBuf::from("/home/me"))),
            vec![PathBuf::from("/home/me/.local/share/backup-repo/backups")]
        );
        assert!(other_defaults(None, None).is_empty());
    }

    #[test]
    fn platform_defaults_exist() {
        if std::env::var_os(DESTINATIONS_ENV).is_none() && !cfg!(windows) && dirs::data_dir().is_some() {
            assert_eq!(default_destinations().unwrap(), vec![dirs::data_dir().unwrap().join("backup-repo/backups")]);
        }
        if !cfg!(windows) {
            assert_eq!(default_metrics_dir(), dirs::data_dir().map(|d| d.join("backup-repo/metrics")));
        }
    }

    #[rstest]
    #[case(r"C:\Users\me\Desktop\repo backup", "desktop")]
    #[case(r"c:\users\me\desktop\Repo Backup\", "desktop")]
    #[case(r"N:\backup\dev\repos2", "n-drive")]
    #[case("N:/backup/dev/repos2/", "n-drive")]
    #[case(r"C:\Users\me\OneDrive\repo-backups", "onedrive")]
    #[case("/mnt/usb/backups", "backups")]
    #[case("/", "/")]
    #[case("relative/dir", "dir")]
    fn display_names(#[case] root: &str, #[case] want: &str) {
        let known =
            windows_defaults(Some(PathBuf::from(r"C:\Users\me\Desktop")), Some(OsStr::new(r"C:\Users\me\OneDrive")));
        assert_eq!(display_name_with(Path::new(root), &known), want);
    }
}
