//! Just enough URL handling for webhooks: split a URL into its parts, and
//! render it for display with every possible secret removed.
//!
//! Webhook URLs are credentials (Slack, Teams and Discord put the token in
//! the path; others in the query or in `user:pass@`), so only the scheme, the
//! host (with port) and well-known, non-secret leading path segments are shown.

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

/// Remove every occurrence of `url` and of its secret-bearing parts from
/// `text` (defence in depth for messages built from OS errors or server
/// replies), replacing them with the redacted form.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let redacted = redact_url(url);
    let mut out = text.replace(url.trim(), &redacted);
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
            // Short pieces ("v1", "0") are not secrets and would mangle text.
            if s.len() >= 6 {
                out = out.replace(s, "…");
            }
        }
    }
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
    fn scrub_removes_secret_parts() {
        let url = "http://bob:hunter22@h:1/services/T0SECRET/B0SECRET/tokenvalue?sig=abcdefgh";
        let msg = format!("failed {url} and T0SECRET, tokenvalue, hunter22, abcdefgh");
        let s = scrub(&msg, url);
        for secret in ["T0SECRET", "tokenvalue", "hunter22", "abcdefgh", "bob:"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert!(s.contains("http://h:1/services/…"), "{s}");
    }
}
