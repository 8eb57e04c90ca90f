//! The environment variables the engine reads (`BACKUP_REPO_CONFIG`,
//! `BACKUP_REPO_DESTINATIONS`, `HOME`, `XDG_*`, `OneDrive`), and the
//! platform folders derived from them, from one place.
//!
//! Rules:
//! - A front end passes the variables it sees as an explicit input (the
//!   `environment` object of any options JSON, see [`crate::ffi`]): for the
//!   rest of that call, on that thread, the engine reads them from there and
//!   never from the process environment. PowerShell's `$env:X` is invisible
//!   to native code on Unix, and copying it into the C environment before
//!   each call would race with a call running in another runspace.
//! - Without one (a C caller, a test, the examples), the process
//!   environment is read, as usual.
//! - A variable absent from an explicit environment is unset.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Variables a front end should pass (every one the engine reads).
pub const NAMES: &[&str] = &[
    "BACKUP_REPO_CONFIG", "BACKUP_REPO_DESTINATIONS", "BACKUP_REPO_METRICS_DIR", "HOME", "XDG_CONFIG_HOME",
    "XDG_DATA_HOME", "XDG_CACHE_HOME", "OneDrive",
];

thread_local! {
    static EXPLICIT: RefCell<Option<BTreeMap<String, String>>> = const { RefCell::new(None) };
}

/// Read variables from `vars` on this thread from now on (None: the
/// process environment again).
pub fn set_explicit(vars: Option<BTreeMap<String, String>>) {
    EXPLICIT.with(|e| *e.borrow_mut() = vars);
}

/// Run `f` with `vars` as this thread's environment, then restore the one before.
pub fn with_explicit<R>(vars: Option<BTreeMap<String, String>>, f: impl FnOnce() -> R) -> R {
    let before = EXPLICIT.with(|e| e.replace(vars));
    let result = f();
    EXPLICIT.with(|e| *e.borrow_mut() = before);
    result
}

/// This thread's explicit environment, to carry into a thread that does
/// part of the same call.
pub fn explicit() -> Option<BTreeMap<String, String>> {
    EXPLICIT.with(|e| e.borrow().clone())
}

/// Whether this thread reads an explicit environment.
fn is_explicit() -> bool {
    EXPLICIT.with(|e| e.borrow().is_some())
}

/// The variable `name`: from the explicit environment when there is one,
/// else from the process's.
pub fn var_os(name: &str) -> Option<OsString> {
    EXPLICIT.with(|e| match &*e.borrow() {
        Some(vars) => vars.get(name).map(OsString::from),
        None => std::env::var_os(name),
    })
}

/// An absolute path from variable `name`, as the XDG rules want it.
fn absolute_var(name: &str) -> Option<PathBuf> {
    var_os(name).map(PathBuf::from).filter(|p| p.is_absolute())
}

/// The user's home folder.
pub fn home_dir() -> Option<PathBuf> {
    if is_explicit() && !cfg!(windows) {
        return absolute_var("HOME");
    }
    dirs::home_dir()
}

/// Which folder of the platform's.
#[derive(Clone, Copy)]
enum Folder {
    Config,
    Data,
    Cache,
}

/// The platform folder, as the `dirs` crate finds it, but from the explicit
/// environment when there is one (Windows' folders are the shell's, not
/// variables: those are asked of the OS either way).
fn folder(which: Folder) -> Option<PathBuf> {
    if !is_explicit() || cfg!(windows) {
        return match which {
            Folder::Config => dirs::config_dir(),
            Folder::Data => dirs::data_dir(),
            Folder::Cache => dirs::cache_dir(),
        };
    }
    let home = home_dir();
    if cfg!(target_os = "macos") {
        let library = home?.join("Library");
        return Some(match which {
            Folder::Config | Folder::Data => library.join("Application Support"),
            Folder::Cache => library.join("Caches"),
        });
    }
    let (var, fallback) = match which {
        Folder::Config => ("XDG_CONFIG_HOME", ".config"),
        Folder::Data => ("XDG_DATA_HOME", ".local/share"),
        Folder::Cache => ("XDG_CACHE_HOME", ".cache"),
    };
    absolute_var(var).or_else(|| home.map(|h| h.join(fallback)))
}

/// Where configuration goes (`~/.config`, `~/Library/Application Support`, `%APPDATA%`).
pub fn config_dir() -> Option<PathBuf> {
    folder(Folder::Config)
}

/// Where data goes (`~/.local/share`, `~/Library/Application Support`, `%APPDATA%`).
pub fn data_dir() -> Option<PathBuf> {
    folder(Folder::Data)
}

/// Where caches go (`~/.cache`, `~/Library/Caches`, `%LOCALAPPDATA%`).
pub fn cache_dir() -> Option<PathBuf> {
    folder(Folder::Cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_explicit_environment_is_the_only_one_read() {
        with_explicit(
            vars(&[("HOME", "/home/me"), ("XDG_CACHE_HOME", "/fast/cache"), ("XDG_DATA_HOME", "rel")]),
            || {
                assert_eq!(config_dir(), Some(PathBuf::from("/home/me/.config")));
                assert_eq!(cache_dir(), Some(PathBuf::from("/fast/cache")));
                // A relative XDG folder is ignored, as the XDG rules say.
                assert_eq!(data_dir(), Some(PathBuf::from("/home/me/.local/share")));
                // Unset there, though the process may have it.
                assert_eq!(var_os("PATH"), None);
            },
        );
        with_explicit(vars(&[]), || assert_eq!(config_dir(), None));
        // Restored afterwards.
        assert_eq!(var_os("PATH"), std::env::var_os("PATH"));
        assert_eq!(config_dir(), dirs::config_dir());
    }

    #[test]
    fn each_thread_has_its_own() {
        with_explicit(vars(&[("BACKUP_REPO_CONFIG", "/a.json")]), || {
            let other = std::thread::spawn(|| var_os("BACKUP_REPO_CONFIG")).join().unwrap();
            assert_eq!(other, std::env::var_os("BACKUP_REPO_CONFIG"));
            assert_eq!(var_os("BACKUP_REPO_CONFIG"), Some("/a.json".into()));
        });
    }
}
