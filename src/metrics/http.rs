//! A minimal HTTP/1.1 client over `std::net::TcpStream`, enough to PUT the
//! exposition to a Pushgateway (`http://` only; no TLS in this build).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::{Error, ErrorKind, Result};

/// Connect, write and read timeout of one push.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

struct Url {
    host: String,
    port: u16,
    /// Base path without a trailing slash ("" for none).
    path: String,
    /// `user:pass`, percent-decoded.
    userinfo: Option<String>,
}

/// `url` with any `user:pass@` replaced by `***@`, safe to print.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("Url")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn parse_url(url: &str) -> Result<Url> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(Error::invalid(format!(
            "'{}': https is not supported for the Pushgateway here; use http or a local relay",
            redact_url(url)
        )));
    }
    if !lower.starts_with("http://") {
        return Err(Error::invalid(format!("'{}': not an http:// URL", redact_url(url))));
    }
    let rest = &url[7..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/').to_string();
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(percent_decode(&authority[..at])), &authority[at + 1..]),
        None => (None, authority),
    };
    let bad = || Error::invalid(format!("'{}': malformed host or port", redact_url(url)));
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let close = v6.find(']').ok_or_else(bad)?;
        let host = &v6[..close];
        let port = match &v6[close + 1..] {
            "" => 80,
            p => p.strip_prefix(':').and_then(|p| p.parse().ok()).ok_or_else(bad)?,
        };
        (host.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
            None => (hostport.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Url { host, port, path, userinfo })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(data: &[u8], url_safe: bool) -> String {
    let table: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
        format!("/{label}@base64/{}", base64(value.as_bytes(), true))
    }
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// PUT `text` to `<url>/metrics/job/<job>`: replaces every metric of that
/// group on the Pushgateway. See [`push_grouped`].
pub fn push(url: &str, job: &str, text: &str) -> Result<()> {
    push_grouped(url, job, &[], text)
}

/// PUT `text` to `<url>/metrics/job/<job>/<label>/<value>...`. Use a
/// `("repo", name)` grouping when several repositories push to one job, so
/// one's push does not replace another's metrics. `http://` only (a
/// `user:pass@` in the URL becomes basic auth and is never printed); 5 s
/// connect/read/write timeouts; a non-2xx answer is an error naming the URL.
pub fn push_grouped(url: &str, job: &str, grouping: &[(&str, &str)], text: &str) -> Result<()> {
    let u = parse_url(url)?;
    if job.is_empty() {
        return Err(Error::invalid("the Pushgateway job name is empty"));
    }
    let mut path = format!("{}/metrics{}", u.path, grouping_segment("job", job));
    for (k, v) in grouping {
        if !valid_label_name(k) || *k == "job" {
            return Err(Error::invalid(format!("'{k}' is not a valid grouping label name")));
        }
        path.push_str(&grouping_segment(k, v));
    }
    let shown = redact_url(url);
    let (status, body) = request(&u, "PUT", &path, "text/plain; version=0.0.4; charset=utf-8", text.as_bytes())
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot push metrics to the Pushgateway at '{shown}': {e}")))?;
    if !(200..300).contains(&status.0) {
        let body = body.trim();
        let body: String = body.chars().take(300).collect();
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the Pushgateway at '{shown}' answered {} {}{}",
                status.0,
                status.1,
                if body.is_empty() { String::new() } else { format!(": {body}") }
            ),
        ));
    }
    Ok(())
}

/// Send one request with `Connection: close`; returns ((code, reason), body).
fn request(
    u: &Url,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<((u16, String), String)> {
    let addrs: Vec<_> = (u.host.as_str(), u.port).to_socket_addrs()?.collect();
    let mut last_err = std::io::Error::new(std::io::ErrorKind::NotFound, "the host name resolved to no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, PUSH_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = e,
        }
    }
    let mut s = stream.ok_or(last_err)?;
    s.set_read_timeout(Some(PUSH_TIMEOUT))?;
    s.set_write_timeout(Some(PUSH_TIMEOUT))?;
    let host_header =
        if u.host.contains(':') { format!("[{}]:{}", u.host, u.port) } else { format!("{}:{}", u.host, u.port) };
    let path = if path.is_empty() { "/" } else { path };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: backup-repo/{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        crate::VERSION,
        body.len()
    );
    if let Some(ui) = &u.userinfo {
        head.push_str(&format!("Authorization: Basic {}\r\n", base64(ui.as_bytes(), false)));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut resp = Vec::new();
    s.take(256 * 1024).read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or("");
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(code) if proto.starts_with("HTTP/") => {
            Ok(((code, parts.next().unwrap_or("").to_string()), body.to_string()))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not an HTTP response: '{}'", status_line.chars().take(80).collect::<String>()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact_url("http://user:pa%40ss@gw:9091/x"), "http://***@gw:9091/x");
        assert_eq!(redact_url("http://gw:9091/a@b"), "http://gw:9091/a@b");
    }

    #[test]
    fn parses_urls() {
        let u = parse_url("http://u:p%3Aw@127.0.0.1:9091/base/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str(), u.userinfo.as_deref()),
            ("127.0.0.1", 9091, "/base", Some("u:p:w"))
        );
        let u = parse_url("http://[::1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("::1", 8080, ""));
        let u = parse_url("HTTP://gw").unwrap();
        assert_eq!(u.port, 80);
        let e = parse_url("https://user:secret@gw:9091").unwrap_err().message;
        assert!(e.contains("https is not supported for the Pushgateway here; use http or a local relay"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert!(parse_url("ftp://gw").is_err());
        assert!(parse_url("http://gw:notaport").is_err());
    }

    #[test]
    fn base64_and_segments() {
        assert_eq!(base64(b"user:pass", false), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a", false), "YQ==");
        assert_eq!(base64(b"ab", false), "YWI=");
        assert_eq!(grouping_segment("repo", "my-repo_1.x"), "/repo/my-repo_1.x");
        assert_eq!(grouping_segment("repo", "a/b"), "/repo@base64/YS9i");
        assert_eq!(grouping_segment("repo", "?>"), "/repo@base64/Pz4=");
    }
}
