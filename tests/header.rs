//! The committed include/backup_repo.h is what build.rs would generate now,
//! and its version defines agree with Cargo.toml.

#[path = "../build.rs"]
#[allow(dead_code)]
mod build_script;

use std::path::Path;

fn committed_header() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/backup_repo.h");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn header_is_up_to_date() {
    let fresh = build_script::generate_header(Path::new(env!("CARGO_MANIFEST_DIR")), env!("CARGO_PKG_VERSION"))
        .expect("cbindgen failed");
    assert!(
        fresh == committed_header(),
        "include/backup_repo.h is stale: run cargo build and commit include/backup_repo.h"
    );
}

#[test]
fn header_version_is_the_cargo_version() {
    let header = committed_header();
    let define = |name: &str| -> String {
        let prefix = format!("#define {name} ");
        let line = header.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {name}"));
        line[prefix.len()..].trim().to_owned()
    };
    assert_eq!(define("BR_VERSION_STRING"), format!("\"{}\"", env!("CARGO_PKG_VERSION")));
    assert_eq!(define("BR_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(define("BR_VERSION_MINOR"), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(define("BR_VERSION_PATCH"), env!("CARGO_PKG_VERSION_PATCH"));
}
