//! A tiny driver for one backup run in its own process (the reliability
//! suite kills it with SIGKILL at chosen points). Not a shipped binary.
//!
//! Usage: backup_cli OPTIONS   where OPTIONS is BackupOptions JSON, or
//!        backup_cli @FILE     to read the JSON from FILE.
//! Prints the report JSON on stdout (exit 0) or `{"error":{kind,message}}` (exit 1).
//! With BACKUP_CLI_PROGRESS=1, prints the phase to stderr as it changes.

use backup_repo::backup::{self, BackupOptions};
use backup_repo::progress::Control;

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: backup_cli '<options json>' | @file");
        std::process::exit(2)
    });
    let json = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).expect("read options file"),
        None => arg,
    };
    let opts: BackupOptions = match serde_json::from_str(&json) {
        Ok(o) => o,
        Err(e) => {
            println!("{}", serde_json::json!({"error": {"kind": "invalid_json", "message": e.to_string()}}));
            std::process::exit(2)
        }
    };
    let control = Control::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        if std::env::var_os("BACKUP_CLI_PROGRESS").is_some() {
            s.spawn(|| {
                let mut last = None;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let phase = control.snapshot().phase;
                    if last != Some(phase) {
                        eprintln!("phase {}", serde_json::to_string(&phase).unwrap_or_default());
                        last = Some(phase);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            });
        }
        let r = backup::run(&opts, &control);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    });
    match result {
        Ok(report) => println!("{}", serde_json::to_string(&report).expect("report json")),
        Err(e) => {
            println!("{}", serde_json::json!({"error": {"kind": e.kind, "message": e.message}}));
            std::process::exit(1)
        }
    }
}
