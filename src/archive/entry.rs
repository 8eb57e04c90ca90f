//! One archive entry judged before its data is read: is its name safe to
//! write inside a target, what kind of entry it is, and does the manifest
//! record it. Restore and verify both ask here, so they agree on what is
//! refused.

use std::collections::HashMap;

use super::format::{S_IFDIR, S_IFLNK, S_IFMT};
use super::{Manifest, ManifestEntry, ManifestLink};

const S_IFREG: u32 = 0o100000;

/// Why an entry name cannot be written inside the target, if it cannot.
/// Names must be relative, `/`-separated, with no empty, `.` or `..` parts.
/// A `\` is a character of the name where the archive was made on Unix and
/// this is Unix (`backslash_is_a_char`); elsewhere it would be read as a
/// separator, so the name is refused, never split.
pub(super) fn unsafe_name(name: &str, backslash_is_a_char: bool) -> Option<&'static str> {
    let b = name.as_bytes();
    if name.is_empty() {
        return Some("empty name");
    }
    if name.contains('\0') {
        return Some("NUL in the name");
    }
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Some("drive letter (absolute path)");
    }
    if name.contains('\\') && !backslash_is_a_char {
        return Some(if cfg!(windows) {
            "backslash in the name (legal where the backup was made, not on Windows)"
        } else {
            "backslash in the name (not a portable path)"
        });
    }
    if name.starts_with('/') {
        return Some("absolute path");
    }
    if cfg!(windows) && name.contains(':') {
        return Some("colon in the name (alternate data stream)");
    }
    for part in name.split('/') {
        match part {
            "" => return Some("empty path component (or a folder entry)"),
            "." | ".." => return Some("'.' or '..' component (would leave the target)"),
            _ => {}
        }
    }
    None
}

/// What an entry of the archive is, by its name and mode, with what the
/// manifest records of it.
pub(super) enum Kind<'m> {
    File(&'m ManifestEntry),
    /// A folder entry (`name/`): its path, without the `/`.
    Dir(&'m str),
    Link(&'m ManifestLink),
}

/// The manifest's entries by path, for checking the archive's against.
pub(super) struct Expected<'m> {
    pub files: HashMap<&'m str, &'m ManifestEntry>,
    pub dirs: HashMap<&'m str, &'m str>,
    pub links: HashMap<&'m str, &'m ManifestLink>,
}

impl<'m> Expected<'m> {
    pub fn of(m: &'m Manifest) -> Expected<'m> {
        Expected {
            files: m.files.iter().map(|f| (f.path.as_str(), f)).collect(),
            dirs: m.dirs.iter().map(|d| (d.as_str(), d.as_str())).collect(),
            links: m.links.iter().map(|l| (l.path.as_str(), l)).collect(),
        }
    }
}

/// The longest link target restored: longer is no link a file system makes.
pub(super) const MAX_LINK_TARGET: u64 = 4096;

/// What the entry `name` (made on a Unix host or not, with its Unix mode
/// where known) is, or why a restore refuses it before reading its data.
/// Verify asks the same, so the two agree on what is refused.
pub(super) fn classify<'m>(
    name: &str,
    unix_host: bool,
    mode: Option<u32>,
    expected: &Expected<'m>,
) -> std::result::Result<Kind<'m>, String> {
    let backslash_is_a_char = cfg!(unix) && unix_host;
    let file_type = mode.map(|m| m & S_IFMT).filter(|&t| t != 0);
    if let Some(path) = name.strip_suffix('/') {
        if let Some(why) = unsafe_name(path, backslash_is_a_char) {
            return Err(why.to_string());
        }
        if file_type.is_some_and(|t| t != S_IFDIR) {
            return Err("a folder entry whose mode is not a folder's".into());
        }
        return expected.dirs.get(path).map(|d| Kind::Dir(d)).ok_or_else(|| "folder not in the manifest".into());
    }
    if let Some(why) = unsafe_name(name, backslash_is_a_char) {
        return Err(why.to_string());
    }
    match file_type {
        Some(S_IFLNK) => {
            expected.links.get(name).map(|l| Kind::Link(l)).ok_or_else(|| "symbolic link not in the manifest".into())
        }
        None | Some(S_IFREG) => {
            expected.files.get(name).map(|f| Kind::File(f)).ok_or_else(|| "not in the manifest".into())
        }
        Some(_) => Err("not a regular file".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_target_are_unsafe() {
        for bad in ["../evil", "a/../../x", "/etc/x", "C:\\x", "C:/x", "..\\x", "a\\b", "a//b", "./a", "a/", "", "a\0b"]
        {
            assert!(unsafe_name(bad, false).is_some(), "{bad:?}");
        }
        for ok in ["a", ".git/HEAD", "ünïcode/日本.txt", "a..b/c..", ".hidden"] {
            assert_eq!(unsafe_name(ok, false), None, "{ok:?}");
        }
        // A Unix name with a backslash is one name, never a path.
        for ok in ["back\\slash.txt", "..\\x", "a\\b/c"] {
            assert_eq!(unsafe_name(ok, true), None, "{ok:?}");
        }
        for bad in ["C:\\x", "../x\\y", "/a\\b"] {
            assert!(unsafe_name(bad, true).is_some(), "{bad:?}");
        }
    }
}
