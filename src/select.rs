//! Which files a backup holds.
//!
//! Rules (docs/COMPATIBILITY.md: the old script's, with its bug fixed): each default exclusion is a
//! gitignore-style glob matched against path *components*, never a regex over
//! the full path, so `env` drops a folder named `env` but not `environment.py`.
//! `.git/` is included on purpose. Symlinks are never followed: each is
//! selected as a link (its target text); FIFOs, sockets and devices are
//! skipped and reported. Folders with nothing selected in them are selected
//! as folders, so a restore brings them back (git needs its empty
//! `.git/refs`). Output is sorted by relative path (forward slashes) so every
//! later step is deterministic.
//!
//! Two more rules keep a restore faithful:
//! - `.backup-repo/` at the source's root is never backed up (whatever the
//!   include globs say): it is where every archive keeps its manifest, so a
//!   tree restored with `unzip` has one, and a second copy would make the
//!   next archive hold that entry twice.
//! - A file that git tracks is never dropped by a default rule (the
//!   original's list is for generated and bulky content; tracked files are
//!   the source): the tracked set comes from `git ls-files` when git is on
//!   PATH. An explicit exclude still wins. Without git, the default rules
//!   apply to everything, and the selection says so once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::progress::{Control, Phase};
use crate::{Error, ErrorKind, Result};

/// The original script's exclusions, always applied.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    ".venv", "venv", "env", ".env", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "htmlcov",
    "node_modules", "*.pyc", "*.pyo", "*.pyd", ".DS_Store", "Thumbs.db", ".windsurf", ".cursor", "*.log", ".vbox",
    "*.vdi", "*.vmdk", "*.vhd", "*.vbox", "*.vbox-prev", "MagicMock", "sandboxes", "quarantine", "analysis", "backups",
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

/// A folder with nothing selected in it (an empty folder, or one whose
/// contents were all left out): stored as a folder entry so it comes back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelectedDir {
    /// Relative to the source root, `/`-separated, no trailing `/`.
    pub rel: String,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
}

/// A symbolic link, never followed: stored as its target text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelectedLink {
    /// Relative to the source root, `/`-separated.
    pub rel: String,
    /// The link's target as written in the link (relative, absolute or
    /// dangling: it is data, never resolved).
    pub target: String,
    /// The link's own modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
}

/// A path left out by a rule: `rule` is the glob as written (or `.gitignore`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Excluded {
    pub path: String,
    pub rule: String,
}

/// A path not backed up for a reason other than a rule (FIFO, socket,
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
    /// Files a default rule matches that are kept because git tracks them,
    /// with that rule.
    pub kept_tracked: Vec<Excluded>,
    /// What the selection could not do as asked, said once (no git).
    pub notes: Vec<String>,
    /// Folders with nothing selected in them.
    #[serde(default)]
    pub dirs: Vec<SelectedDir>,
    /// Symbolic links.
    #[serde(default)]
    pub links: Vec<SelectedLink>,
}

/// The rule reported for `.backup-repo/` at the source's root.
pub const OWN_FOLDER_RULE: &str = "/.backup-repo/ (BackupRepo's manifest folder)";

/// The folder at the root of every archive that holds its manifest
/// ([`crate::archive::MANIFEST_NAME`] is inside it).
pub const OWN_FOLDER: &str = ".backup-repo";

/// Whether `name`, at the root, is the manifest folder of our archives.
fn is_own_folder(name: &str) -> bool {
    if CASE_INSENSITIVE {
        name.eq_ignore_ascii_case(OWN_FOLDER)
    } else {
        name == OWN_FOLDER
    }
}

/// The files git tracks below the source, and their folders.
#[derive(Debug, Default)]
struct Tracked {
    files: HashSet<String>,
    dirs: HashSet<String>,
}

impl Tracked {
    fn from_ls_files(output: &[u8]) -> Tracked {
        let mut t = Tracked::default();
        for path in output.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            let Ok(path) = std::str::from_utf8(path) else { continue };
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                end += i;
                t.dirs.insert(path[..end].to_string());
                end += 1;
            }
            t.files.insert(path.to_string());
        }
        t
    }

    /// Whether `rel` is tracked (a file) or holds tracked files (a folder).
    fn holds(&self, rel: &str, is_dir: bool) -> bool {
        if is_dir {
            self.dirs.contains(rel)
        } else {
            self.files.contains(rel)
        }
    }
}

/// The files git tracks in `root` (`git ls-files`), or why they are unknown:
/// None when `root` is not a git work tree at all (nothing to say).
fn git_tracked(root: &Path) -> std::result::Result<Tracked, Option<String>> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--cached"])
        // Reading the index must never take its lock from a running git.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    let has_git_dir = root.join(".git").exists();
    match output {
        Ok(out) if out.status.success() => Ok(Tracked::from_ls_files(&out.stdout)),
        Ok(out) if has_git_dir => Err(Some(format!(
            "git could not list the tracked files ({}): the default rules apply to tracked files too",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) if has_git_dir && e.kind() == std::io::ErrorKind::NotFound => Err(Some(
            "git is not on PATH: the default rules apply to tracked files too (install git to keep every tracked file)"
                .to_string(),
        )),
        Err(e) if has_git_dir => {
            Err(Some(format!("git could not be run ({e}): the default rules apply to tracked files too")))
        }
        _ => Err(None),
    }
}

impl Selection {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

// ---------------------------------------------------------------------------
// Rules (pure)
// ---------------------------------------------------------------------------
//
// How a glob is read (gitignore-style, on path components):
// - no `/` (`env`, `*.pyc`, `build`): matches any single component anywhere,
//   file or folder name; `*` never crosses `/`, the dot is literal.
// - with `/` (`samples/metadata.db`, `test_data/*.db`): matches any run of
//   whole components, i.e. the path or any suffix of it (or of an ancestor)
//   starting at a component boundary. Unlike git, a middle slash does NOT
//   anchor to the root, because the original means "samples/metadata.db
//   anywhere". A leading `/` anchors to the source root.
// - a trailing `/` (`logs/`) matches folders only.
// - a rule that matches a folder matches everything beneath it, so a path is
//   checked component by component from the root; the shallowest match is
//   reported (the folder that was pruned).
// - `include` globs are read the same way and win over every exclusion
//   (defaults, build, user, .gitignore): an included folder brings back all
//   of its contents.
// - `.git/` (at any depth) and everything inside it is opaque to the rules:
//   only the `.git` folder itself is tested, so a branch named `build` or a
//   `.git/logs/x.log` is never dropped. Nothing but an explicit rule naming
//   `.git` can exclude it.

/// One rule as written, plus how it was parsed.
#[derive(Debug)]
struct Pattern {
    rule: String,
    dir_only: bool,
    anchored: bool,
}

/// A list of rules compiled into two glob sets: single-component rules and
/// multi-component rules. Indices keep the order rules were given in.
#[derive(Debug)]
struct RuleSet {
    pats: Vec<Pattern>,
    names: globset::GlobSet,
    name_ids: Vec<usize>,
    paths: globset::GlobSet,
    path_ids: Vec<usize>,
}

/// Whether the file system in use compares names case-insensitively.
/// Windows file systems are case-insensitive, so match rules that way there.
const CASE_INSENSITIVE: bool = cfg!(windows);

fn is_git_dir_name(name: &str) -> bool {
    if CASE_INSENSITIVE {
        name.eq_ignore_ascii_case(".git")
    } else {
        name == ".git"
    }
}

impl RuleSet {
    fn new<'a>(rules: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<RuleSet> {
        let mut pats = Vec::new();
        let mut names = globset::GlobSetBuilder::new();
        let mut name_ids = Vec::new();
        let mut paths = globset::GlobSetBuilder::new();
        let mut path_ids = Vec::new();
        for (rule, origin) in rules {
            let mut body = rule;
            let dir_only = body.ends_with('/');
            body = body.trim_end_matches('/');
            let anchored = body.starts_with('/');
            body = body.trim_start_matches('/');
            if body.is_empty() {
                return Err(Error::invalid(format!("invalid {origin} glob '{rule}': empty pattern")));
            }
            let glob = globset::GlobBuilder::new(body)
                .literal_separator(true)
                .case_insensitive(CASE_INSENSITIVE)
                .build()
                .map_err(|e| Error::invalid(format!("invalid {origin} glob '{rule}': {}", e.kind())))?;
            let id = pats.len();
            if body.contains('/') || anchored {
                paths.add(glob);
                path_ids.push(id);
            } else {
                names.add(glob);
                name_ids.push(id);
            }
            pats.push(Pattern { rule: rule.to_string(), dir_only, anchored });
        }
        let build = |b: globset::GlobSetBuilder| b.build().map_err(|e| Error::invalid(format!("invalid glob: {e}")));
        Ok(RuleSet { pats, names: build(names)?, name_ids, paths: build(paths)?, path_ids })
    }

    fn is_empty(&self) -> bool {
        self.pats.is_empty()
    }

    /// The index of the rule that matches `rel` or one of its ancestors,
    /// shallowest ancestor first, then the earliest rule.
    fn first_match(&self, rel: &str, is_dir: bool) -> Option<usize> {
        if self.is_empty() || rel.is_empty() {
            return None;
        }
        let starts = component_starts(rel);
        let mut hits = Vec::new();
        (0..starts.len()).find_map(|j| self.match_at(rel, &starts, j, is_dir, &mut hits))
    }

    /// [`first_match`](Self::first_match) for a path none of whose ancestors
    /// matches (each was checked as it was walked): its last component only.
    fn last_match(&self, rel: &str, is_dir: bool) -> Option<usize> {
        if self.is_empty() || rel.is_empty() {
            return None;
        }
        let starts = component_starts(rel);
        self.match_at(rel, &starts, starts.len() - 1, is_dir, &mut Vec::new())
    }

    /// The earliest rule matching the path up to component `j` (a folder
    /// unless it is the last component of a file): its name alone, or it
    /// with the components before it (anchored rules from the root only).
    fn match_at(&self, rel: &str, starts: &[usize], j: usize, is_dir: bool, hits: &mut Vec<usize>) -> Option<usize> {
        let n = starts.len();
        let end = if j + 1 < n { starts[j + 1] - 1 } else { rel.len() };
        let this_is_dir = j + 1 < n || is_dir;
        let mut best: Option<usize> = None;
        let consider = |id: usize, best: &mut Option<usize>| {
            let p = &self.pats[id];
            if (!p.dir_only || this_is_dir) && best.is_none_or(|b| id < b) {
                *best = Some(id);
            }
        };
        if !self.name_ids.is_empty() {
            self.names.matches_into(&rel[starts[j]..end], hits);
            for &h in hits.iter() {
                consider(self.name_ids[h], &mut best);
            }
        }
        if !self.path_ids.is_empty() {
            for (i, &start) in starts[..=j].iter().enumerate() {
                self.paths.matches_into(&rel[start..end], hits);
                for &h in hits.iter() {
                    let id = self.path_ids[h];
                    if i == 0 || !self.pats[id].anchored {
                        consider(id, &mut best);
                    }
                }
            }
        }
        best
    }
}

/// Byte offsets where each component of `rel` starts.
fn component_starts(rel: &str) -> Vec<usize> {
    std::iter::once(0).chain(rel.match_indices('/').map(|(i, _)| i + 1)).collect()
}

/// The compiled rules (pure: no disk). `matched_rule(rel, is_dir)` says which
/// rule, if any, excludes a relative path.
#[derive(Debug)]
pub struct Rules {
    exclude: RuleSet,
    include: RuleSet,
    /// How many of `exclude`'s rules (the first ones) are the defaults.
    defaults: usize,
    /// The user's excludes alone: they win over "git tracks it".
    user_exclude: RuleSet,
}

impl Rules {
    pub fn new(opts: &SelectOptions) -> Result<Rules> {
        let build: &[&str] = if opts.include_build { &[] } else { BUILD_EXCLUDES };
        let exclude = RuleSet::new(
            DEFAULT_EXCLUDES
                .iter()
                .chain(build)
                .map(|r| (*r, "default"))
                .chain(opts.exclude.iter().map(|r| (r.as_str(), "exclude"))),
        )?;
        let include = RuleSet::new(opts.include.iter().map(|r| (r.as_str(), "include")))?;
        let user_exclude = RuleSet::new(opts.exclude.iter().map(|r| (r.as_str(), "exclude")))?;
        Ok(Rules { exclude, include, defaults: DEFAULT_EXCLUDES.len() + build.len(), user_exclude })
    }

    /// Whether rule `id` of the excludes is a default (or build) rule.
    fn is_default(&self, id: usize) -> bool {
        id < self.defaults
    }

    /// Whether some include glob keeps `rel` (or an ancestor of it).
    fn is_included(&self, rel: &str, is_dir: bool) -> bool {
        self.include.first_match(rel, is_dir).is_some()
    }

    fn has_includes(&self) -> bool {
        !self.include.is_empty()
    }

    /// The rule (as written) that excludes `rel`, or None when it is kept.
    pub fn matched_rule(&self, rel: &str, is_dir: bool) -> Option<&str> {
        let (rel, is_dir) = match rel.strip_suffix('/') {
            Some(r) => (r, true),
            None => (rel, is_dir),
        };
        if self.is_included(rel, is_dir) {
            return None;
        }
        let (rel, is_dir) = up_to_git_dir(rel, is_dir);
        self.exclude.first_match(rel, is_dir).map(|id| self.exclude.pats[id].rule.as_str())
    }
}

/// `rel` cut after its first `.git` component (which is then a folder when
/// something follows it): what the rules see of a path inside `.git/`.
fn up_to_git_dir(rel: &str, is_dir: bool) -> (&str, bool) {
    let mut start = 0;
    for comp in rel.split('/') {
        let end = start + comp.len();
        if is_git_dir_name(comp) {
            return if end == rel.len() { (rel, is_dir) } else { (&rel[..end], true) };
        }
        start = end + 1;
    }
    (rel, is_dir)
}

/// The part of `rel` that .gitignore files may judge: everything before the
/// first `.git` component (git never ignores its own folder). None: nothing.
fn gitignore_target(rel: &str, is_dir: bool) -> Option<(&str, bool)> {
    let mut start = 0;
    for comp in rel.split('/') {
        if is_git_dir_name(comp) {
            return if start == 0 { None } else { Some((&rel[..start - 1], true)) };
        }
        start += comp.len() + 1;
    }
    Some((rel, is_dir))
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

/// The .gitignore matchers in force in one folder, shallowest first.
type Chain = Arc<Vec<Arc<Gitignore>>>;

/// State shared by the walker threads.
struct Walk<'a> {
    root: &'a Path,
    rules: Rules,
    control: &'a Control,
    respect_gitignore: bool,
    /// Folder (absolute walk path) -> gitignore chain for its children.
    chains: RwLock<HashMap<PathBuf, Chain>>,
    /// Excluded folders that are still walked because include globs exist;
    /// their contents are dropped quietly (the folder itself is reported).
    excluded_dirs: RwLock<HashSet<PathBuf>>,
    out: Mutex<Selection>,
    cancelled: AtomicBool,
    /// What git tracks, read when a default rule first matches.
    tracked: std::sync::OnceLock<std::result::Result<Tracked, Option<String>>>,
}

/// Within a folder, check for cancel every this many entries.
const CANCEL_EVERY: usize = 256;

impl Walk<'_> {
    /// What git tracks; None when unknown.
    fn tracked(&self) -> Option<&Tracked> {
        self.tracked.get_or_init(|| git_tracked(self.root)).as_ref().ok()
    }

    /// The chain in force for entries of folder `dir`.
    fn chain_of(&self, dir: &Path) -> Chain {
        self.chains.read().ok().and_then(|m| m.get(dir).cloned()).unwrap_or_default()
    }

    /// Record the chain for the children of folder `dir` (call before they
    /// are visited: a folder is read only after it was visited).
    fn enter_dir(&self, dir: &Path, parent_chain: Chain, is_root: bool) {
        if !self.respect_gitignore {
            return;
        }
        let mut builder = GitignoreBuilder::new(dir);
        builder.case_insensitive(CASE_INSENSITIVE).ok();
        let mut any = false;
        let mut files = vec![dir.join(".gitignore")];
        if is_root {
            files.push(dir.join(".git").join("info").join("exclude"));
        }
        for f in files {
            if f.is_file() {
                // Bad lines are skipped, as git does; the rest still applies.
                let _ = builder.add(&f);
                any = true;
            }
        }
        let chain = match builder.build() {
            Ok(gi) if any && !gi.is_empty() => {
                let mut v = (*parent_chain).clone();
                v.push(Arc::new(gi));
                Arc::new(v)
            }
            _ => parent_chain,
        };
        if let Ok(mut m) = self.chains.write() {
            m.insert(dir.to_path_buf(), chain);
        }
    }

    fn gitignored(&self, chain: &Chain, rel: &str, is_dir: bool) -> bool {
        let Some((target, is_dir)) = gitignore_target(rel, is_dir) else { return false };
        let abs = self.root.join(target);
        for gi in chain.iter().rev() {
            match gi.matched_path_or_any_parents(&abs, is_dir) {
                ignore::Match::Ignore(_) => return true,
                ignore::Match::Whitelist(_) => return false,
                ignore::Match::None => {}
            }
        }
        false
    }

    /// Read folder `dir` (relative path `dir_rel`, already visited) and visit
    /// its entries; the folders to walk into go to the pool. One lock per
    /// folder to hand over what it selected.
    fn walk_dir<'s>(&'s self, scope: &rayon::Scope<'s>, dir: PathBuf, dir_rel: String, clean: bool) {
        if self.cancelled.load(Relaxed) || self.cancel_seen() {
            return;
        }
        let mut local = Selection::default();
        // Whether the folder was listed to the end and a kept folder went
        // into the walk: a kept folder with nothing kept in it is selected
        // itself, so the restore recreates it.
        let (mut listed, mut kept_folder) = (false, false);
        match std::fs::read_dir(&dir) {
            Err(e) => unreadable(&mut local, &dir_rel, &e),
            Ok(entries) => {
                listed = true;
                for (i, entry) in entries.enumerate() {
                    // A huge folder is still cancellable part-way.
                    if i % CANCEL_EVERY == CANCEL_EVERY - 1 && self.cancel_seen() {
                        break;
                    }
                    match entry {
                        Err(e) => {
                            listed = false;
                            unreadable(&mut local, &dir_rel, &e)
                        }
                        Ok(dirent) => {
                            if let Some((path, rel, clean)) =
                                self.visit_entry(&dir, &dir_rel, clean, &dirent, &mut local)
                            {
                                kept_folder |= clean;
                                scope.spawn(move |s| self.walk_dir(s, path, rel, clean));
                            }
                        }
                    }
                }
            }
        }
        if clean && listed && !kept_folder && !dir_rel.is_empty() && local.files.is_empty() && local.links.is_empty() {
            let mtime_ns = std::fs::symlink_metadata(&dir).map_or(0, |m| mtime_ns_of(&m));
            local.dirs.push(SelectedDir { rel: dir_rel, mtime_ns });
        }
        if !(local.files.is_empty()
            && local.excluded.is_empty()
            && local.skipped.is_empty()
            && local.dirs.is_empty()
            && local.links.is_empty()
            && local.kept_tracked.is_empty())
        {
            if let Ok(mut out) = self.out.lock() {
                out.files.append(&mut local.files);
                out.excluded.append(&mut local.excluded);
                out.skipped.append(&mut local.skipped);
                out.kept_tracked.append(&mut local.kept_tracked);
                out.dirs.append(&mut local.dirs);
                out.links.append(&mut local.links);
            }
        }
    }

    /// Whether cancel was requested; remembered for every walker.
    fn cancel_seen(&self) -> bool {
        let cancelled = self.control.is_cancelled();
        if cancelled {
            self.cancelled.store(true, Relaxed);
        }
        cancelled
    }

    /// Decide one entry of folder `parent`: select it, report it, or return
    /// the folder to walk into (path, relative path, and whether it is
    /// clean: walked because no rule excludes it, rather than excluded and
    /// walked for the include globs).
    fn visit_entry(
        &self,
        parent: &Path,
        parent_rel: &str,
        parent_clean: bool,
        dirent: &std::fs::DirEntry,
        local: &mut Selection,
    ) -> Option<(PathBuf, String, bool)> {
        let name = dirent.file_name();
        // Joined by hand: `format!` was 5 % of a large unchanged run's samples.
        let join = |name: &str| {
            let mut rel = String::with_capacity(parent_rel.len() + 1 + name.len());
            if !parent_rel.is_empty() {
                rel.push_str(parent_rel);
                rel.push('/');
            }
            rel.push_str(name);
            rel
        };
        let Some(rel) = name.to_str().map(join) else {
            let path = join(&name.to_string_lossy());
            local.skipped.push(Skipped { path, reason: "name is not valid UTF-8".into() });
            return None;
        };
        // From the directory entry where the file system says (no stat);
        // a symlink is a symlink: links are not followed.
        let Ok(ft) = dirent.file_type() else {
            local.skipped.push(Skipped { path: rel, reason: "unknown file type".into() });
            return None;
        };
        let is_dir = ft.is_dir();
        let path = dirent.path();
        let chain = if self.respect_gitignore { self.chain_of(parent) } else { Chain::default() };

        // Kept although a default rule matches: a folder then is walked as
        // excluded (each entry below judged whole), a file reported as kept.
        let mut kept_by_git = false;
        let rule: Option<String> = if parent_rel.is_empty() && is_own_folder(&rel) {
            Some(OWN_FOLDER_RULE.to_string())
        } else if self.rules.is_included(&rel, is_dir) {
            None
        } else {
            let (r, d) = up_to_git_dir(&rel, is_dir);
            let id = if !parent_clean {
                self.rules.exclude.first_match(r, d)
            } else if r.len() < rel.len() {
                // Inside a .git folder the walk entered clean: the rules see
                // only that folder, and it was judged when it was visited.
                None
            } else {
                // Every ancestor was judged clean when visited: only the last
                // component can match.
                self.rules.exclude.last_match(r, d)
            };
            match id {
                Some(id)
                    if self.rules.is_default(id)
                        && self.tracked().is_some_and(|t| t.holds(&rel, is_dir))
                        && self.rules.user_exclude.first_match(r, d).is_none() =>
                {
                    kept_by_git = true;
                    if !is_dir {
                        let rule = self.rules.exclude.pats[id].rule.clone();
                        local.kept_tracked.push(Excluded { path: rel.clone(), rule });
                    }
                    None
                }
                Some(id) => Some(self.rules.exclude.pats[id].rule.clone()),
                None if self.respect_gitignore && self.gitignored(&chain, &rel, is_dir) => {
                    Some(".gitignore".to_string())
                }
                None => None,
            }
        };

        if let Some(rule) = rule {
            let quiet =
                self.rules.has_includes() && self.excluded_dirs.read().map(|s| s.contains(parent)).unwrap_or(false);
            let descend = is_dir && self.rules.has_includes();
            if descend {
                // Something beneath may be included: walk on, quietly.
                if let Ok(mut s) = self.excluded_dirs.write() {
                    s.insert(path.to_path_buf());
                }
                self.enter_dir(&path, chain, false);
            }
            let walk_rel = if descend { rel.clone() } else { String::new() };
            if !quiet {
                local.excluded.push(Excluded { path: rel, rule });
            }
            return descend.then_some((path, walk_rel, false));
        }

        if ft.is_symlink() {
            // Read, never followed: the target is the link's content.
            match std::fs::read_link(&path).map(link_target_text) {
                Ok(Some(target)) => {
                    let mtime_ns = dirent.metadata().map_or(0, |m| mtime_ns_of(&m));
                    local.links.push(SelectedLink { rel, target, mtime_ns });
                }
                Ok(None) => {
                    local.skipped.push(Skipped { path: rel, reason: "symlink target is not valid UTF-8".into() })
                }
                Err(e) => local.skipped.push(Skipped { path: rel, reason: format!("unreadable symlink: {e}") }),
            }
            return None;
        }
        if is_dir {
            self.enter_dir(&path, chain, false);
            return Some((path, rel, !kept_by_git && parent_clean));
        }
        if !ft.is_file() {
            local.skipped.push(Skipped { path: rel, reason: special_kind(&ft).into() });
            return None;
        }
        // Relative to the open folder (fstatat), not a lookup of the whole path.
        match dirent.metadata() {
            Ok(meta) => {
                let file = selected_file(rel, path, &meta);
                self.control.advance(1, file.size);
                local.files.push(file);
            }
            Err(e) => {
                local.skipped.push(Skipped { path: rel, reason: format!("unreadable: {e}") });
            }
        }
        None
    }
}

/// A folder that could not be read (or listed to the end): reported, never fatal.
fn unreadable(local: &mut Selection, dir_rel: &str, e: &std::io::Error) {
    let path = if dir_rel.is_empty() { ".".to_string() } else { dir_rel.to_string() };
    local.skipped.push(Skipped { path, reason: format!("unreadable: {e}") });
}

fn special_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "fifo";
        }
        if ft.is_socket() {
            return "socket";
        }
        if ft.is_block_device() {
            return "block device";
        }
        if ft.is_char_device() {
            return "character device";
        }
    }
    let _ = ft;
    "not a regular file"
}

/// A link's target as the archive stores it; None when it is not UTF-8.
pub(crate) fn link_target_text(target: PathBuf) -> Option<String> {
    let text = target.into_os_string().into_string().ok()?;
    // Stored with `/`, as ZIP names are, so it means the same on every system.
    #[cfg(windows)]
    let text = text.replace('\\', "/");
    Some(text)
}

fn mtime_ns_of(meta: &std::fs::Metadata) -> i128 {
    match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        },
        Err(_) => 0,
    }
}

fn selected_file(rel: String, path: PathBuf, meta: &std::fs::Metadata) -> SelectedFile {
    let mtime_ns = mtime_ns_of(meta);
    #[cfg(unix)]
    let file_id = {
        use std::os::unix::fs::MetadataExt;
        Some(meta.ino())
    };
    #[cfg(not(unix))]
    let file_id = None;
    SelectedFile { rel, path, size: meta.len(), mtime_ns, file_id }
}

/// Walk `root` and choose files. Errors name the path at fault.
pub fn select(root: &Path, opts: &SelectOptions, control: &Control) -> Result<Selection> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io("open source folder", root, e))?;
    if !meta.is_dir() {
        return Err(Error::new(ErrorKind::NotFound, format!("source folder '{}' is not a directory", root.display())));
    }
    // A root we cannot list is an error, not an empty backup.
    std::fs::read_dir(root).map_err(|e| Error::io("read folder", root, e))?;
    let rules = Rules::new(opts)?;
    control.begin(Phase::Selecting, 0, 0);
    control.check()?;

    let walk = Walk {
        root,
        rules,
        control,
        respect_gitignore: opts.respect_gitignore,
        chains: RwLock::default(),
        excluded_dirs: RwLock::default(),
        out: Mutex::default(),
        cancelled: AtomicBool::new(false),
        tracked: std::sync::OnceLock::new(),
    };
    // Our own walk on the pool rather than the `ignore` crate's: every
    // exclusion is decided (and reported with its rule) here, and each file
    // is stat'ed relative to its open folder from the directory listing,
    // where a walker handing out paths stats each path from the root again
    // (a fifth of an unchanged run's CPU on a 71k-file tree).
    walk.enter_dir(root, Chain::default(), true);
    rayon::scope(|s| walk.walk_dir(s, root.to_path_buf(), String::new(), true));
    if walk.cancelled.load(Relaxed) {
        return Err(Error::cancelled());
    }
    control.check()?;

    let note = match walk.tracked.get() {
        Some(Err(Some(why))) => Some(why.clone()),
        _ => None,
    };
    let mut sel = walk.out.into_inner().unwrap_or_else(|p| p.into_inner());
    sel.notes.extend(note);
    sel.kept_tracked.sort_by(|a, b| a.path.cmp(&b.path));
    // Paths are unique, so an unstable sort gives the one order, moving less.
    sel.files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    sel.excluded.sort_by(|a, b| a.path.cmp(&b.path));
    sel.skipped.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.reason.cmp(&b.reason)));
    sel.dirs.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    sel.links.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn rules() -> Rules {
        Rules::new(&SelectOptions::default()).unwrap()
    }

    fn opts(exclude: &[&str], include: &[&str]) -> SelectOptions {
        SelectOptions {
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            include: include.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[rstest]
    #[case("environment.py", false)]
    #[case("rebuild.py", false)]
    #[case("analysis_utils.py", false)]
    #[case("my.env.txt", false)]
    #[case("xenv", false)]
    #[case("envelope", true)]
    #[case("envelope/a.py", false)]
    #[case("src/building.rs", false)]
    #[case("metadata.db", false)]
    #[case("other/metadata.db", false)]
    #[case("samples/metadata.dbx", false)]
    #[case("test_data/sub/foo.db", false)]
    #[case(".git", true)]
    #[case(".git/HEAD", false)]
    #[case(".git/refs/heads/build", false)]
    #[case(".git/refs/heads/env", false)]
    #[case(".git/logs/x.log", false)]
    #[case("sub/.git/refs/heads/dist", false)]
    #[case(".github/workflows/ci.yml", false)]
    #[case(".gitignore", false)]
    fn kept(#[case] rel: &str, #[case] is_dir: bool) {
        assert_eq!(rules().matched_rule(rel, is_dir), None, "{rel}");
    }

    #[rstest]
    #[case("env", true, "env")]
    #[case("sub/env/x.py", false, "env")]
    #[case(".env", false, ".env")]
    #[case("a/b/__pycache__/c.pyc", false, "__pycache__")]
    #[case("a/b/c.pyc", false, "*.pyc")]
    #[case("x.log", false, "*.log")]
    #[case("build", true, "build")]
    #[case("build/out/x.o", false, "build")]
    #[case("pkg-1.0.tar.gz", false, "*.tar.gz")]
    #[case("samples/metadata.db", false, "samples/metadata.db")]
    #[case("deep/samples/metadata.db", false, "samples/metadata.db")]
    #[case("test_data/foo.db", false, "test_data/*.db")]
    #[case("x/test_data/foo.db", false, "test_data/*.db")]
    #[case("node_modules/a/__pycache__/b.pyc", false, "node_modules")]
    #[case("web/node_modules", true, "node_modules")]
    #[case("vendor/x/.git/HEAD", false, "vendor")]
    #[case(".DS_Store", false, ".DS_Store")]
    fn excluded(#[case] rel: &str, #[case] is_dir: bool, #[case] rule: &str) {
        let o = opts(&["vendor"], &[]);
        assert_eq!(Rules::new(&o).unwrap().matched_rule(rel, is_dir), Some(rule), "{rel}");
    }

    #[test]
    fn include_build_keeps_build_output() {
        let r = Rules::new(&SelectOptions { include_build: true, ..Default::default() }).unwrap();
        assert_eq!(r.matched_rule("build", true), None);
        assert_eq!(r.matched_rule("dist/a.whl", false), None);
        assert_eq!(r.matched_rule("env", true), Some("env"));
    }

    #[test]
    fn user_rules_dir_only_and_anchored() {
        let r = Rules::new(&opts(&["logs/", "/top.txt", "docs/**/*.png"], &[])).unwrap();
        assert_eq!(r.matched_rule("logs", true), Some("logs/"));
        assert_eq!(r.matched_rule("a/logs/x", false), Some("logs/"));
        assert_eq!(r.matched_rule("logs", false), None, "a file named logs");
        assert_eq!(r.matched_rule("top.txt", false), Some("/top.txt"));
        assert_eq!(r.matched_rule("a/top.txt", false), None);
        assert_eq!(r.matched_rule("docs/a/b/c.png", false), Some("docs/**/*.png"));
        assert_eq!(r.matched_rule("docs/c.png", false), Some("docs/**/*.png"));
        assert_eq!(r.matched_rule("docs/c.jpg", false), None);
    }

    #[test]
    fn include_wins_over_every_exclusion() {
        let r = Rules::new(&opts(&["*.txt"], &["keep.log", "node_modules/pkg", "a.txt"])).unwrap();
        assert_eq!(r.matched_rule("keep.log", false), None);
        assert_eq!(r.matched_rule("other.log", false), Some("*.log"));
        assert_eq!(r.matched_rule("node_modules/pkg/index.js", false), None);
        assert_eq!(r.matched_rule("node_modules/other/index.js", false), Some("node_modules"));
        assert_eq!(r.matched_rule("a.txt", false), None);
        assert_eq!(r.matched_rule("b.txt", false), Some("*.txt"));
    }

    #[test]
    fn star_does_not_cross_slash() {
        let r = Rules::new(&opts(&["src*"], &[])).unwrap();
        assert_eq!(r.matched_rule("src/main.rs", false), Some("src*"));
        assert_eq!(r.matched_rule("x/srcs", true), Some("src*"));
        let r = Rules::new(&opts(&["a/*.db"], &[])).unwrap();
        assert_eq!(r.matched_rule("a/b/c.db", false), None);
    }

    #[test]
    fn invalid_glob_names_the_glob() {
        let err = Rules::new(&opts(&["a[b"], &[])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("a[b"), "{}", err.message);
        let err = Rules::new(&opts(&[], &["/"])).unwrap_err();
        assert!(err.message.contains("include"), "{}", err.message);
    }

    #[cfg(not(windows))]
    #[test]
    fn matching_is_case_sensitive_on_unix() {
        assert_eq!(rules().matched_rule("ENV", true), None);
        assert_eq!(rules().matched_rule("X.LOG", false), None);
    }

    proptest! {
        /// A name that merely contains a rule word is never excluded by it.
        #[test]
        fn containing_a_rule_word_is_not_matching_it(
            pre in "[a-z]{1,5}", post in "[a-z]{1,5}", dir in "[a-z]{1,8}",
            word in prop::sample::select(vec!["env", "venv", "build", "dist", "analysis",
                                               "backups", "node_modules", "sandboxes"]),
        ) {
            let r = rules();
            for name in [format!("{pre}{word}{post}.py"), format!("{pre}{word}"), format!("{word}{post}")] {
                let rel = format!("{dir}/{name}");
                if let Some(rule) = r.matched_rule(&rel, false) {
                    prop_assert_ne!(rule, word, "{} excluded by {}", rel, rule);
                }
            }
        }

        /// Whatever excludes a path, an include matching it keeps it.
        #[test]
        fn include_always_wins(parts in prop::collection::vec("[a-z_.]{1,6}", 1..5)) {
            let rel = parts.join("/");
            let last = parts.last().unwrap().clone();
            let r = Rules::new(&opts(&["*", &last], &[&last])).unwrap();
            prop_assume!(!rel.split('/').any(|c| c == "." || c == ".."));
            prop_assert_eq!(r.matched_rule(&rel, false), None);
            prop_assert_eq!(r.matched_rule(&rel, true), None);
        }

        /// The walk's shortcut: for a path whose every ancestor folder is
        /// unmatched, matching the last component alone gives what matching
        /// every component from the root gives. Rules mix names, paths,
        /// anchored and folder-only globs over a small alphabet, so they hit.
        #[test]
        fn last_component_matching_equals_full_matching_below_clean_folders(
            parts in prop::collection::vec("[abc]{1,2}(\\.x)?", 1..6),
            rules in prop::collection::vec("(/)?[abc*]{1,2}(/[abc*]{1,2})?(/)?", 0..6),
            is_dir: bool,
        ) {
            let rel = parts.join("/");
            let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
            let Ok(set) = RuleSet::new(rules.iter().map(|r| (*r, "exclude"))) else { return Ok(()) };
            let starts = component_starts(&rel);
            let clean_ancestors = starts[1..].iter().all(|&s| set.first_match(&rel[..s - 1], true).is_none());
            prop_assume!(clean_ancestors);
            prop_assert_eq!(set.last_match(&rel, is_dir), set.first_match(&rel, is_dir));
        }
    }

    // ---- the walk ----

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    fn rels(sel: &Selection) -> Vec<&str> {
        sel.files.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn walk_selects_reports_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "environment.py", "rebuild.py", "analysis_utils.py", "my.env.txt", "envelope/a.py", "env/bin/python",
            "sub/env/x.py", ".env", "a/b/__pycache__/c.pyc", "x.log", "build/out.o", "pkg-1.0.tar.gz",
            "samples/metadata.db", "test_data/foo.db", ".git/HEAD", ".git/refs/heads/build", "node_modules/x/index.js",
            "src/main.rs", "a.txt", "a/b.txt",
        ] {
            write(root, rel, rel);
        }
        let control = Control::default();
        let sel = select(root, &SelectOptions::default(), &control).unwrap();
        assert_eq!(
            rels(&sel),
            [
                ".git/HEAD", ".git/refs/heads/build", "a.txt", "a/b.txt", "analysis_utils.py", "envelope/a.py",
                "environment.py", "my.env.txt", "rebuild.py", "src/main.rs",
            ]
        );
        let excl: Vec<(&str, &str)> = sel.excluded.iter().map(|e| (e.path.as_str(), e.rule.as_str())).collect();
        assert_eq!(
            excl,
            [
                (".env", ".env"),
                ("a/b/__pycache__", "__pycache__"),
                ("build", "build"),
                ("env", "env"),
                ("node_modules", "node_modules"),
                ("pkg-1.0.tar.gz", "*.tar.gz"),
                ("samples/metadata.db", "samples/metadata.db"),
                ("sub/env", "env"),
                ("test_data/foo.db", "test_data/*.db"),
                ("x.log", "*.log"),
            ]
        );
        assert!(sel.skipped.is_empty(), "{:?}", sel.skipped);
        let f = &sel.files[2];
        assert_eq!((f.size, f.path.clone()), (5, root.join("a.txt")));
        assert!(f.mtime_ns > 0);
        #[cfg(unix)]
        assert!(f.file_id.is_some());
        let snap = control.snapshot();
        assert_eq!((snap.phase, snap.files_done, snap.bytes_done), (Phase::Selecting, 10, sel.total_bytes()));
    }

    #[test]
    fn include_reaches_into_excluded_folders_quietly() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in ["node_modules/keep/a.js", "node_modules/drop/b.js", "node_modules/c.js", "x.log"] {
            write(root, rel, "x");
        }
        let o = opts(&[], &["node_modules/keep"]);
        let sel = select(root, &o, &Control::default()).unwrap();
        assert_eq!(rels(&sel), ["node_modules/keep/a.js"]);
        let excl: Vec<&str> = sel.excluded.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(excl, ["node_modules", "x.log"]);
    }

    #[test]
    fn gitignore_is_optional_reported_and_works_without_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", "*.tmp\nout/\n!keep.tmp\n");
        write(root, "sub/.gitignore", "local.txt\n");
        for rel in ["a.tmp", "keep.tmp", "out/x", "sub/local.txt", "local.txt", "b.rs", "incl.tmp"] {
            write(root, rel, "x");
        }
        let sel = select(root, &SelectOptions::default(), &Control::default()).unwrap();
        assert_eq!(sel.files.len(), 9);

        let mut o = SelectOptions { respect_gitignore: true, ..Default::default() };
        o.include.push("incl.tmp".into());
        let sel = select(root, &o, &Control::default()).unwrap();
        assert_eq!(rels(&sel), [".gitignore", "b.rs", "incl.tmp", "keep.tmp", "local.txt", "sub/.gitignore"]);
        let excl: Vec<(&str, &str)> = sel.excluded.iter().map(|e| (e.path.as_str(), e.rule.as_str())).collect();
        assert_eq!(excl, [("a.tmp", ".gitignore"), ("out", ".gitignore"), ("sub/local.txt", ".gitignore")]);
    }

    #[test]
    fn gitignore_never_touches_dot_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", "*\n!.gitignore\n");
        write(root, ".git/objects/ab/cdef", "x");
        write(root, "a.rs", "x");
        let o = SelectOptions { respect_gitignore: true, ..Default::default() };
        let sel = select(root, &o, &Control::default()).unwrap();
        assert_eq!(rels(&sel), [".git/objects/ab/cdef", ".gitignore"]);
    }

    #[cfg(unix)]
    #[test]
    fn links_are_selected_as_links_and_special_files_skipped_with_a_reason() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "real/a.txt", "x");
        std::os::unix::fs::symlink(root.join("real"), root.join("dirlink")).unwrap();
        std::os::unix::fs::symlink("real/a.txt", root.join("filelink")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("broken")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(b"t\xff"), root.join("badtarget")).unwrap();
        let fifo = root.join("pipe");
        let made_fifo = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success());
        let bad = std::ffi::OsStr::from_bytes(b"bad\xffname");
        std::fs::write(root.join(bad), "x").unwrap();
        let sel = select(root, &SelectOptions::default(), &Control::default()).unwrap();
        assert_eq!(rels(&sel), ["real/a.txt"]);
        let links: Vec<(&str, &str)> = sel.links.iter().map(|l| (l.rel.as_str(), l.target.as_str())).collect();
        let real = root.join("real").display().to_string();
        assert_eq!(
            links,
            [("broken", "nowhere"), ("dirlink", real.as_str()), ("filelink", "real/a.txt"), ("loop", "loop")]
        );
        assert!(sel.links.iter().all(|l| l.mtime_ns > 0));
        assert!(sel.dirs.is_empty(), "{:?}", sel.dirs);
        let mut skipped: Vec<(&str, &str)> = sel.skipped.iter().map(|s| (s.path.as_str(), s.reason.as_str())).collect();
        if made_fifo.unwrap_or(false) {
            assert!(skipped.contains(&("pipe", "fifo")), "{skipped:?}");
            skipped.retain(|s| s.0 != "pipe");
        }
        assert_eq!(
            skipped,
            [("badtarget", "symlink target is not valid UTF-8"), ("bad\u{FFFD}name", "name is not valid UTF-8")]
        );
    }

    #[test]
    fn folders_with_nothing_selected_in_them_are_selected() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a/b.txt", "x");
        write(root, "logs/x.log", "x");
        write(root, "node_modules/m/i.js", "x");
        for d in [".git/refs/heads", ".git/refs/tags", "a/empty", "deep/er/est", "env/lib"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let sel = select(root, &SelectOptions::default(), &Control::default()).unwrap();
        let dirs: Vec<&str> = sel.dirs.iter().map(|d| d.rel.as_str()).collect();
        // `logs` holds only an excluded file: kept as a folder. Excluded
        // folders (`env`, `node_modules`) are not.
        assert_eq!(dirs, [".git/refs/heads", ".git/refs/tags", "a/empty", "deep/er/est", "logs"]);
        assert!(sel.dirs.iter().all(|d| d.mtime_ns > 0));
        assert_eq!(rels(&sel), ["a/b.txt"]);
    }

    #[test]
    fn root_must_be_an_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = select(&missing, &SelectOptions::default(), &Control::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains("nope"), "{}", err.message);
        write(dir.path(), "f", "x");
        let err = select(&dir.path().join("f"), &SelectOptions::default(), &Control::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
    }

    #[test]
    fn cancel_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..600 {
            write(dir.path(), &format!("d{}/f{i}", i % 7), "x");
        }
        let control = Control::default();
        control.cancel();
        let err = select(dir.path(), &SelectOptions::default(), &control).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Cancelled);
    }

    #[test]
    fn output_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..300 {
            write(dir.path(), &format!("d{}/e{}/f{i}.txt", i % 5, i % 3), "x");
            write(dir.path(), &format!("d{}/f{i}.log", i % 4), "x");
        }
        let a = select(dir.path(), &SelectOptions::default(), &Control::default()).unwrap();
        let b = select(dir.path(), &SelectOptions::default(), &Control::default()).unwrap();
        assert_eq!(a, b);
        assert!(a.files.windows(2).all(|w| w[0].rel < w[1].rel));
        assert_eq!(a.excluded.len(), 300);
    }
}
