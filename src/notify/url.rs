//! Just enough URL handling for webhooks, and the one redaction rule for
//! every URL the project shows: in messages, logs, warnings and results,
//! engine or module (the module calls it through `br_redact`).
//!
//! Webhook and Pushgateway URLs can be credentials (Slack, Teams and Discord
//! put the token in the path; others in the query or in `user:pass@`), so
//! only the scheme, the host (with port) and well-known, non-secret leading
//! path segments are shown: [`redact_url`] for a URL, [`redact_text`] for a
//! message that may hold one (an OS error, a server's reason phrase or body).

/// The parts of an absolute `scheme://authority/path?query#fragment` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    /// Lower-cased by the accessors that compare it; as written here.
    pub scheme: &'a str,
    /// `user:pass` (without the `@`), if any.
    pub userinfo: Option<&'a str>,
    /// Host without port; IPv6 literals keep their brackets.
    pub host: &'a str,
    pub port: Option<&'a str>,
    /// Starts with `/` or is empty.
    pub path: &'a str,
    /// Without the `?`.
    pub query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    pub fn parse(url: &'a str) -> Option<UrlParts<'a>> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://")?;
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            return None;
        }
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(auth_end);
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = if hostport.starts_with('[') {
            let close = hostport.find(']')?;
            let after = &hostport[close + 1..];
            let port = after.strip_prefix(':');
            if !after.is_empty() && port.is_none() {
                return None;
            }
            (&hostport[..=close], port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (tail, None),
        };
        Some(UrlParts { scheme, userinfo, host, port, path, query })
    }

    /// Lower-cased host without a trailing dot.
    pub fn host_lower(&self) -> String {
        self.host.trim_end_matches('.').to_ascii_lowercase()
    }
}

/// Leading path segments that are part of a webhook service's fixed layout
/// and carry no secret; they are kept in the redacted form so a reader can
/// tell the URLs apart. The first segment not in this list ends the display.
const PUBLIC_SEGMENTS: &[&str] =
    &["services", "api", "webhooks", "webhookb2", "workflows", "hooks", "webhook", "powerautomate", "automations"];

/// The URL for display, logs and errors: scheme, host and port, well-known
/// leading path segments, then `…` for anything else (path secrets, query,
/// fragment). `user:pass@` is dropped. An unparseable URL is shown as
/// `(invalid URL)`: there is no telling which part of it is secret.
///
/// `https://hooks.slack.com/services/T0/B0/xyz` → `https://hooks.slack.com/services/…`
pub fn redact_url(url: &str) -> String {
    let Some(p) = UrlParts::parse(url) else {
        return "(invalid URL)".to_string();
    };
    let mut out = format!("{}://{}", p.scheme.to_ascii_lowercase(), p.host.to_ascii_lowercase());
    if let Some(port) = p.port {
        out.push(':');
        out.push_str(port);
    }
    let mut hidden = false;
    let mut segments = p.path.split('/').skip(1).peekable();
    while let Some(seg) = segments.next() {
        let last_and_empty = seg.is_empty() && segments.peek().is_none();
        if last_and_empty {
            out.push('/');
            break;
        }
        if PUBLIC_SEGMENTS.contains(&seg.to_ascii_lowercase().as_str()) {
            out.push('/');
            out.push_str(seg);
        } else {
            out.push_str("/…");
            hidden = true;
            break;
        }
    }
    if p.query.is_some() && !hidden {
        out.push_str("?…");
    }
    out
}

/// `text` made safe to show: every occurrence of `url` (when given) and of
/// its secret-bearing parts (user info, path segments that are not in the
/// well-known list, query keys and values; pieces shorter than 6 characters
/// are left alone, they are not secrets and would mangle the text) replaced,
/// then every other `scheme://...` in the text shown as [`redact_url`] shows
/// it. For a server's reason phrase or body, an OS error, anything a message
/// repeats from outside.
///
/// `failed: POST http://u:pw@h/hook/T0SECRET?sig=abcdefgh` with that URL →
/// `failed: POST http://h/hook/…`.
pub fn redact_text(text: &str, url: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) {
        out = out.replace(url, &redact_url(url));
        if let Some(p) = UrlParts::parse(url) {
            let mut secrets: Vec<&str> = Vec::new();
            if let Some(u) = p.userinfo {
                secrets.push(u);
                secrets.extend(u.split(':'));
            }
            if let Some(q) = p.query {
                secrets.push(q);
                secrets.extend(q.split('&').flat_map(|kv| kv.split('=')));
            }
            secrets.extend(p.path.split('/').filter(|s| !PUBLIC_SEGMENTS.contains(&s.to_ascii_lowercase().as_str())));
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
            for s in secrets {
                if s.len() >= 6 {
                    out = out.replace(s, "…");
                }
            }
        }
    }
    redact_urls_in(&out)
}

/// Every `scheme://...` token of `text` (up to a blank, a quote or a
/// bracket that cannot end a URL) shown as [`redact_url`] shows it.
fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // The scheme: the ASCII letters, digits, `+-.` right before `://`.
        let before = &rest[..i];
        let scheme_len = before.bytes().rev().take_while(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)).count();
        let start = i - scheme_len;
        let after = &rest[i + 3..];
        let end = after.find(|c: char| c.is_whitespace() || "\"'<>`".contains(c)).unwrap_or(after.len());
        out.push_str(&rest[..start]);
        if scheme_len == 0 || end == 0 {
            // Not a URL (no scheme, or nothing after `://`): nothing to hide.
            out.push_str(&rest[start..i]);
            out.push_str("://");
            rest = after;
            continue;
        }
        let token = &rest[start..i + 3 + end];
        // Trailing punctuation of the sentence is not part of the URL.
        let trimmed = token.trim_end_matches(['.', ',', ';', ':', ')', ']', '\'']);
        out.push_str(&redact_url(trimmed));
        out.push_str(&token[trimmed.len()..]);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authority_forms() {
        let p = UrlParts::parse("http://u:p@127.0.0.1:8080/a/b?x=1#f").unwrap();
        assert_eq!(
            (p.scheme, p.userinfo, p.host, p.port, p.path, p.query),
            ("http", Some("u:p"), "127.0.0.1", Some("8080"), "/a/b", Some("x=1"))
        );
        let p = UrlParts::parse("http://[::1]:9/x").unwrap();
        assert_eq!((p.host, p.port), ("[::1]", Some("9")));
        let p = UrlParts::parse("https://example.com").unwrap();
        assert_eq!((p.host, p.port, p.path, p.query), ("example.com", None, "", None));
        assert!(UrlParts::parse("hooks.slack.com/services/x").is_none());
        assert!(UrlParts::parse("http://host:port/").is_none());
        assert!(UrlParts::parse("http:///x").is_none());
    }

    #[test]
    fn redact_text_removes_secret_parts() {
        let url = "http://bob:hunter22@h:1/services/T0SECRET/B0SECRET/tokenvalue?sig=abcdefgh";
        let msg = format!("failed {url} and T0SECRET, tokenvalue, hunter22, abcdefgh");
        let s = redact_text(&msg, Some(url));
        for secret in ["T0SECRET", "tokenvalue", "hunter22", "abcdefgh", "bob:"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert!(s.contains("http://h:1/services/…"), "{s}");
    }

    #[test]
    fn redact_text_redacts_every_other_url_too() {
        // A reason phrase that quotes some other URL (a redirect target, a proxy).
        let s = redact_text("Moved to https://u:pw@other.example/hooks/SECRETPATH?k=v.", None);
        assert_eq!(s, "Moved to https://other.example/hooks/….");
        let s = redact_text("see (http://gw:9091/metrics/job/x) and 'ftp://h/a?b'", None);
        assert_eq!(s, "see (http://gw:9091/…) and 'ftp://h/…'");
        // Idempotent, and text without URLs is unchanged.
        assert_eq!(redact_text(&s, None), s);
        assert_eq!(redact_text("HTTP 500 Internal Server Error: a://", None), "HTTP 500 Internal Server Error: a://");
        assert_eq!(redact_text("no urls here: 5 s", Some("http://h/x")), "no urls here: 5 s");
        assert_eq!(redact_text("é://ü", None), "é://ü");
    }
}
