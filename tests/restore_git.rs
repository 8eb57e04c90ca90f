//! A restored backup is the repository again, for git too (#19): real
//! repository states, each backed up and restored through the engine, then
//! compared with git's own view of the source (status, fsck, refs, stashes,
//! worktrees), and with `Compare-RepoBackup -Source` (no difference).
//!
//! Needs `git`; without it every case says so and passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use backup_repo::archive::{self, RestoreOptions, VerifyOptions};
use backup_repo::backup::{BackupOptions, BackupReport, RunStatus};
use backup_repo::progress::Control;
use backup_repo::select::SelectOptions;

/// Whether git runs here; when not, the case is skipped with a note.
fn have_git() -> bool {
    let ok = Command::new("git").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("NOTE: git is not installed: the git restore matrix is skipped");
    }
    ok
}

/// git in `dir`, isolated from the machine's configuration, with a fixed
/// identity and clock so every run makes the same objects.
fn git_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(["-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_EDITOR", "true")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    c
}

fn git_output(dir: &Path, args: &[&str]) -> Output {
    git_cmd(dir, args).output().unwrap_or_else(|e| panic!("git {args:?}: {e}"))
}

/// git that must succeed; its standard output.
fn git(dir: &Path, args: &[&str]) -> String {
    let o = git_output(dir, args);
    assert!(o.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// git that is expected to fail (a conflict): it must, or the state is not made.
fn git_fails(dir: &Path, args: &[&str]) {
    let o = git_output(dir, args);
    assert!(!o.status.success(), "git {args:?} was expected to stop on a conflict");
}

fn write(root: &Path, rel: &str, body: impl AsRef<[u8]>) {
    common::write(root, rel, body);
}

/// A new repository at `dir` with one commit of a few files.
fn repo_with_a_commit(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    write(dir, "README.md", "# repo\n");
    write(dir, "src/main.rs", "fn main() {}\n");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "first"]);
    dir.to_path_buf()
}

/// What git says about a repository, as the matrix compares it.
#[derive(Debug, PartialEq)]
struct View {
    status: String,
    fsck: String,
    refs: String,
    stashes: String,
    worktrees: String,
}

fn view(dir: &Path) -> View {
    let fsck = git_output(dir, &["fsck", "--full", "--strict"]);
    assert!(fsck.status.success(), "git fsck in {}: {}", dir.display(), String::from_utf8_lossy(&fsck.stderr));
    View {
        status: git(dir, &["status", "--porcelain=v2", "--branch", "--untracked-files=all", "--ignored"]),
        fsck: String::from_utf8_lossy(&fsck.stdout).into_owned() + &String::from_utf8_lossy(&fsck.stderr),
        refs: git(dir, &["for-each-ref"]),
        stashes: git(dir, &["stash", "list"]),
        worktrees: git(dir, &["worktree", "list", "--porcelain"]),
    }
}

/// One state, backed up and restored: the source, the restored copy, the
/// backup's report and archive.
struct RoundTrip {
    _tmp: tempfile::TempDir,
    source: PathBuf,
    restored: PathBuf,
    report: BackupReport,
    archive: PathBuf,
    opts: BackupOptions,
}

/// Back up `source` (a folder under `tmp`) and restore it beside it; check
/// that git sees the restored copy as it sees the source, that verify and
/// a comparison with the restored copy find nothing, and nothing was refused.
fn round_trip(tmp: tempfile::TempDir, source: PathBuf) -> RoundTrip {
    let before = view(&source);
    let cache = tmp.path().join("cache");
    let opts = common::options(&source, &[tmp.path().join("dest")], &cache);
    let report = common::run(&opts);
    assert_eq!(report.status, RunStatus::Created, "{report:?}");
    let archive = PathBuf::from(report.destinations[0].archive_path.clone().unwrap());
    let restored = tmp.path().join("restored").join(source.file_name().unwrap());
    let rep = archive::restore(&archive, &restored, &RestoreOptions::default(), &Control::default()).unwrap();
    assert!(rep.refused.is_empty(), "refused: {:?}", rep.refused);
    assert_eq!(rep.links_restored, report.links_stored);
    assert_eq!(rep.dirs_restored, report.dirs_stored);

    // Before git runs in it: git refreshes the index it finds (stat data).
    let v = archive::verify(&archive, &VerifyOptions::default(), &Control::default()).unwrap();
    assert!(v.ok, "{:?}", v.errors);
    let v = archive::verify(&archive, &VerifyOptions { source: Some(restored.clone()) }, &Control::default()).unwrap();
    assert!(v.ok, "verify against the restored copy: {:?}", v.errors);
    assert_eq!(v.source_changes, Some(vec![]), "the restored copy is the source as backed up");
    let cmp = backup_repo::compare::compare_with_source(
        &archive,
        &restored,
        &SelectOptions::default(),
        Some(&cache),
        &Control::default(),
    )
    .unwrap();
    assert!(cmp.changes.is_empty(), "Compare-RepoBackup -Source after the restore: {:?}", cmp.changes);
    let mut after = view(&restored);
    // The main worktree is where it was restored; every other line is the same.
    after.worktrees = after.worktrees.replace(&restored.display().to_string(), &source.display().to_string());
    assert_eq!(after, before, "git sees the restored copy as it sees the source");

    RoundTrip { _tmp: tmp, source, restored, report, archive, opts }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

/// The reproduction: `git init`, one commit, `git gc`: no remotes,
/// no loose refs, so `.git/refs/heads` and `.git/refs/tags` are empty.
#[test]
fn a_local_repository_after_gc() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    git(&src, &["gc", "-q"]);
    assert!(is_empty_dir(&src.join(".git/refs/heads")) && is_empty_dir(&src.join(".git/refs/tags")));
    let rt = round_trip(tmp, src);
    assert!(is_empty_dir(&rt.restored.join(".git/refs/heads")));
    assert!(is_empty_dir(&rt.restored.join(".git/refs/tags")));
    assert!(rt.report.dirs_stored >= 2, "{}", rt.report.dirs_stored);
    let m = archive::read_manifest(&rt.archive).unwrap();
    assert!(m.dirs.iter().any(|d| d == ".git/refs/heads"), "{:?}", m.dirs);
}

#[test]
fn a_fresh_clone() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let origin = repo_with_a_commit(&tmp.path().join("origin"));
    git(&origin, &["branch", "other"]);
    git(tmp.path(), &["clone", "-q", "--no-local", origin.to_str().unwrap(), "clone"]);
    let rt = round_trip(tmp, origin.with_file_name("clone"));
    assert!(git(&rt.restored, &["status", "--porcelain=v2", "--branch"]).contains("# branch.upstream origin/main"));
}

#[test]
fn packed_and_loose_tags() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    git(&src, &["tag", "v1"]);
    git(&src, &["tag", "-a", "v2", "-m", "annotated, packed"]);
    git(&src, &["pack-refs", "--all"]);
    git(&src, &["tag", "v3"]);
    git(&src, &["tag", "-a", "v4", "-m", "annotated, loose"]);
    assert!(std::fs::read_to_string(src.join(".git/packed-refs")).unwrap().contains("refs/tags/v2"));
    assert!(src.join(".git/refs/tags/v4").is_file());
    let rt = round_trip(tmp, src);
    assert_eq!(git(&rt.restored, &["tag"]), "v1\nv2\nv3\nv4\n");
}

#[test]
fn a_stash() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    write(&src, "README.md", "# changed\n");
    git(&src, &["stash", "-q"]);
    write(&src, "src/main.rs", "fn main() { println!(); }\n");
    write(&src, "new.txt", "untracked\n");
    git(&src, &["stash", "-q", "-u"]);
    let rt = round_trip(tmp, src);
    assert_eq!(git(&rt.restored, &["stash", "list"]).lines().count(), 2);
    git(&rt.restored, &["stash", "pop", "-q"]);
    assert_eq!(std::fs::read_to_string(rt.restored.join("new.txt")).unwrap(), "untracked\n");
}

/// Two branches changing the same line of `f.txt`: `main` and `topic`.
fn conflicting_branches(dir: &Path) -> PathBuf {
    let src = repo_with_a_commit(dir);
    write(&src, "f.txt", "base\n");
    git(&src, &["add", "f.txt"]);
    git(&src, &["commit", "-q", "-m", "base"]);
    git(&src, &["checkout", "-q", "-b", "topic"]);
    write(&src, "f.txt", "topic\n");
    git(&src, &["commit", "-q", "-am", "topic"]);
    git(&src, &["checkout", "-q", "main"]);
    write(&src, "f.txt", "main\n");
    git(&src, &["commit", "-q", "-am", "main"]);
    src
}

#[test]
fn a_merge_in_progress() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = conflicting_branches(&tmp.path().join("repo"));
    git_fails(&src, &["merge", "topic"]);
    assert!(src.join(".git/MERGE_HEAD").is_file());
    let rt = round_trip(tmp, src);
    assert!(rt.restored.join(".git/MERGE_HEAD").is_file());
    assert!(git(&rt.restored, &["status", "--porcelain=v2"]).contains("u UU"));
}

#[test]
fn a_rebase_in_progress() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = conflicting_branches(&tmp.path().join("repo"));
    git(&src, &["checkout", "-q", "topic"]);
    git_fails(&src, &["rebase", "main"]);
    assert!(src.join(".git/rebase-merge").is_dir());
    let rt = round_trip(tmp, src);
    write(&rt.restored, "f.txt", "resolved\n");
    git(&rt.restored, &["add", "f.txt"]);
    git(&rt.restored, &["rebase", "--continue"]);
    assert_eq!(git(&rt.restored, &["log", "-1", "--format=%s"]), "topic\n");
}

#[test]
fn a_submodule() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sub = repo_with_a_commit(&tmp.path().join("subrepo"));
    let src = repo_with_a_commit(&tmp.path().join("super"));
    git(&src, &["submodule", "add", "-q", sub.to_str().unwrap(), "libs/sub"]);
    git(&src, &["commit", "-q", "-m", "add the submodule"]);
    assert!(src.join("libs/sub/.git").is_file());
    let rt = round_trip(tmp, src);
    let mut inside = view(&rt.restored.join("libs/sub"));
    inside.worktrees = inside.worktrees.replace(&rt.restored.display().to_string(), &rt.source.display().to_string());
    assert_eq!(inside, view(&rt.source.join("libs/sub")), "git inside the submodule");
    assert_eq!(rt.report.linked_git_dir, None, "the superproject's .git is a folder");
}

#[test]
fn a_repository_with_a_linked_worktree() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("main"));
    git(&src, &["worktree", "add", "-q", "-b", "feature", "../linked"]);
    let rt = round_trip(tmp, src);
    assert!(rt.restored.join(".git/worktrees/linked").is_dir());
    assert_eq!(rt.report.linked_git_dir, None);
}

/// The linked worktree itself: its `.git` is a file pointing into the main
/// repository, where its objects live; the report says so.
#[test]
fn a_linked_worktree() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let main = repo_with_a_commit(&tmp.path().join("main"));
    git(&main, &["worktree", "add", "-q", "-b", "feature", "../linked"]);
    let linked = tmp.path().join("linked");
    write(&linked, "wip.txt", "work in progress\n");
    let rt = round_trip(tmp, linked);
    let points_to = rt.report.linked_git_dir.clone().expect("a linked worktree is reported");
    assert_eq!(
        std::fs::canonicalize(points_to).unwrap(),
        std::fs::canonicalize(main.join(".git/worktrees/linked")).unwrap()
    );
    assert!(rt.restored.join(".git").is_file());
}

#[cfg(unix)]
#[test]
fn hooks_keep_their_executable_bit() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    let hook = src.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    write(&src, "tool.sh", "#!/bin/sh\n");
    std::fs::set_permissions(src.join("tool.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    git(&src, &["add", "tool.sh"]);
    git(&src, &["commit", "-q", "-m", "an executable"]);
    let rt = round_trip(tmp, src);
    assert_eq!(mode(&rt.restored.join(".git/hooks/pre-commit")), 0o755);
    assert_eq!(mode(&rt.restored.join("tool.sh")), 0o755);
    assert_eq!(mode(&rt.restored.join("README.md")), 0o644);
}

#[test]
fn an_empty_untracked_folder() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    std::fs::create_dir_all(src.join("empty")).unwrap();
    std::fs::create_dir_all(src.join("nested/deeper/deepest")).unwrap();
    let rt = round_trip(tmp, src);
    assert!(is_empty_dir(&rt.restored.join("empty")));
    assert!(is_empty_dir(&rt.restored.join("nested/deeper/deepest")));
    let m = archive::read_manifest(&rt.archive).unwrap();
    assert!(m.dirs.contains(&"empty".to_string()) && m.dirs.contains(&"nested/deeper/deepest".to_string()));
    assert!(!m.dirs.contains(&"nested".to_string()), "only folders with nothing in them");
}

/// Links in the tree: committed, relative, absolute, leading outside,
/// dangling, to a folder. Each comes back as the link it was, never followed.
#[cfg(unix)]
#[test]
fn committed_symlinks() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    let links = [
        ("link-to-readme", "README.md"),
        ("link-to-src", "src"),
        ("src/up", "../README.md"),
        ("outside", "../../outside-the-tree"),
        ("absolute", "/etc/hostname"),
        ("dangling", "no/such/file"),
    ];
    for (at, to) in links {
        std::os::unix::fs::symlink(to, src.join(at)).unwrap();
    }
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "links"]);
    let rt = round_trip(tmp, src);
    assert_eq!(rt.report.links_stored, links.len() as u64);
    for (at, to) in links {
        let p = rt.restored.join(at);
        assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_symlink(), "{at}");
        assert_eq!(std::fs::read_link(&p).unwrap(), Path::new(to), "{at}");
    }
    // Never followed: nothing was made where the links lead.
    assert!(!rt.restored.parent().unwrap().join("outside-the-tree").exists());
    // A new link target is a change: the next backup is made, not skipped.
    std::fs::remove_file(rt.source.join("dangling")).unwrap();
    std::os::unix::fs::symlink("elsewhere", rt.source.join("dangling")).unwrap();
    let later = BackupOptions { now: Some("2026-11-25T11:00:00".parse().unwrap()), ..rt.opts.clone() };
    assert_eq!(common::run(&later).status, RunStatus::Created);
}

#[test]
fn an_lfs_pointer_file() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    write(&src, ".gitattributes", "*.psd filter=lfs diff=lfs merge=lfs -text\n");
    let pointer = format!("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 123456\n", "4d".repeat(32));
    write(&src, "art/cover.psd", &pointer);
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "a pointer"]);
    let rt = round_trip(tmp, src);
    assert_eq!(std::fs::read_to_string(rt.restored.join("art/cover.psd")).unwrap(), pointer);
}

/// A committed 100 MB file (a cheap pattern: numbered lines).
#[test]
fn a_100_mb_file() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_with_a_commit(&tmp.path().join("repo"));
    let mut big = Vec::with_capacity(100 << 20);
    let mut i = 0u64;
    while big.len() < 100 << 20 {
        big.extend_from_slice(format!("line {i:012} of the big file\n").as_bytes());
        i += 1;
    }
    big.truncate(100 << 20);
    std::fs::write(src.join("big.dat"), &big).unwrap();
    git(&src, &["add", "big.dat"]);
    git(&src, &["commit", "-q", "-m", "big"]);
    let rt = round_trip(tmp, src);
    assert_eq!(std::fs::metadata(rt.restored.join("big.dat")).unwrap().len(), 100 << 20);
}
