//! Regenerates include/backup_repo.h from src/ffi with the pinned cbindgen,
//! writing it only when its content changed. tests/header.rs includes this
//! file to regenerate the header in memory and compare.

use std::path::{Path, PathBuf};

/// The header's text for the crate at `crate_dir`, with the version defines
/// taken from `version` (Cargo.toml's, via CARGO_PKG_VERSION).
pub fn generate_header(crate_dir: &Path, version: &str) -> Result<String, String> {
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))?;
    config.after_includes = Some(version_defines(version));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        // Only the C ABI: the engine's public items are not part of the header.
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn version_defines(version: &str) -> String {
    let core = version.split(['-', '+']).next().unwrap_or(version);
    let mut parts = core.split('.').map(|p| p.parse::<u32>().expect("numeric version"));
    let (major, minor, patch) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    format!(
        "\n/** The version of this header (Cargo.toml's); `br_version()` gives the library's. */\n\
         #define BR_VERSION_MAJOR {major}\n\
         #define BR_VERSION_MINOR {minor}\n\
         #define BR_VERSION_PATCH {patch}\n\
         #define BR_VERSION_STRING \"{version}\"\n"
    )
}

#[allow(dead_code)] // Unused when tests/header.rs includes this file.
fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION");
    let header = match generate_header(&crate_dir, &version) {
        Ok(h) => h,
        // A header that cannot be generated must not break the engine's
        // build; tests/header.rs fails instead.
        Err(e) => {
            println!("cargo:warning=include/backup_repo.h not regenerated: {e}");
            return;
        }
    };
    let path = crate_dir.join("include/backup_repo.h");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(header.as_str()) {
        std::fs::create_dir_all(path.parent().unwrap()).expect("create include/");
        std::fs::write(&path, header).expect("write include/backup_repo.h");
    }
}
