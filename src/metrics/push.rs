//! What a Pushgateway push sends, built here and sent by the PowerShell
//! module (HttpClient: http and https, proxies, the OS certificate store):
//! one body per repository, PUT to `<base URL>/metrics/job/<job>/repo/<repo>`
//! so a push replaces that repository's group and no other.

use std::path::Path;

use super::{log_files, read_log, render_prometheus};
use crate::{Error, ErrorKind, Result};

/// The `Content-Type` of a push body (the text format, version 0.0.4).
pub const PUSH_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One request of a push: PUT `body` to the Pushgateway's base URL + `path`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PushPayload {
    /// The repository whose group this replaces.
    pub repo: String,
    /// The grouping path, from `/metrics/job/...`; append it to the base URL
    /// (without its trailing `/`).
    pub path: String,
    pub content_type: String,
    /// Prometheus text of this repository's log.
    pub body: String,
}

/// One `/<label>/<value>` path pair of the Pushgateway API; values that are
/// not plain URL-safe text use its `<label>@base64/<base64url>` form.
fn grouping_segment(label: &str, value: &str) -> String {
    let plain = !value.is_empty() && value.bytes().all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c));
    if plain {
        format!("/{label}/{value}")
    } else if value.is_empty() {
        format!("/{label}@base64/=")
    } else {
        format!("/{label}@base64/{}", base64_url(value.as_bytes()))
    }
}

/// RFC 4648 §5 (URL and file name safe alphabet), padded.
fn base64_url(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= chunk.len() { TABLE[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `/metrics/job/<job>/<label>/<value>...`: the Pushgateway's path of one
/// group. An empty job or an invalid label name is an error.
pub fn grouping_path(job: &str, grouping: &[(&str, &str)]) -> Result<String> {
    if job.is_empty() {
        return Err(Error::invalid("the Pushgateway job name is empty"));
    }
    let mut path = format!("/metrics{}", grouping_segment("job", job));
    for (k, v) in grouping {
        if !valid_label_name(k) || *k == "job" {
            return Err(Error::invalid(format!("'{k}' is not a valid grouping label name")));
        }
        path.push_str(&grouping_segment(k, v));
    }
    Ok(path)
}

/// The push of one log file, or of every `backup-*.jsonl` in a folder: one
/// [`PushPayload`] per repository (`job`, `repo`), as a backup run pushes,
/// so on-demand pushes replace rather than duplicate series. Empty logs are
/// left out; a missing path is `NotFound`.
pub fn push_payloads(log_path_or_dir: &Path, job: &str, now: jiff::Timestamp) -> Result<Vec<PushPayload>> {
    let files = if log_path_or_dir.is_dir() {
        log_files(log_path_or_dir)?
    } else if log_path_or_dir.is_file() {
        vec![log_path_or_dir.to_path_buf()]
    } else {
        return Err(Error::new(ErrorKind::NotFound, format!("no metrics log at '{}'", log_path_or_dir.display())));
    };
    grouping_path(job, &[])?;
    let mut out = Vec::new();
    for file in files {
        let records = read_log(&file)?;
        let Some(repo) = records.last().map(|r| r.repo.clone()) else { continue };
        out.push(PushPayload {
            path: grouping_path(job, &[("repo", &repo)])?,
            content_type: PUSH_CONTENT_TYPE.to_string(),
            body: render_prometheus(&records, now),
            repo,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_segments() {
        assert_eq!(base64_url(b"a"), "YQ==");
        assert_eq!(base64_url(b"ab"), "YWI=");
        assert_eq!(base64_url(b"my repo"), "bXkgcmVwbw==");
        assert_eq!(grouping_segment("repo", "my-repo_1.x"), "/repo/my-repo_1.x");
        assert_eq!(grouping_segment("repo", "a/b"), "/repo@base64/YS9i");
        assert_eq!(grouping_segment("repo", "?>"), "/repo@base64/Pz4=");
        assert_eq!(grouping_segment("repo", ""), "/repo@base64/=");
    }

    #[test]
    fn grouping_paths() {
        assert_eq!(grouping_path("backup_repo", &[("repo", "app")]).unwrap(), "/metrics/job/backup_repo/repo/app");
        assert_eq!(
            grouping_path("backup_repo", &[("repo", "my repo")]).unwrap(),
            "/metrics/job/backup_repo/repo@base64/bXkgcmVwbw=="
        );
        assert!(grouping_path("", &[]).is_err());
        assert!(grouping_path("j", &[("job", "x")]).is_err());
        assert!(grouping_path("j", &[("1a", "x")]).is_err());
    }
}
