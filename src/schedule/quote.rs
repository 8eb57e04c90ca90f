//! Quoting for the four command-line languages a schedule passes through.
//! Each function turns one argument into text that the target parses back
//! into exactly that argument (control characters excepted: specs with them
//! are refused by `ScheduleSpec::validate`).

/// Characters PowerShell treats as a single quote (ASCII and the typographic
/// ones): inside a single-quoted string each must be doubled.
pub const POWERSHELL_SINGLE_QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];

/// A PowerShell single-quoted (verbatim) string: `O'Brien` → `'O''Brien'`.
/// No `$`, backtick or double-quote is special inside it.
pub fn powershell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if POWERSHELL_SINGLE_QUOTES.contains(&c) {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A /bin/sh word: `it's` → `'it'\''s'`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One argument of a systemd `ExecStart=` line: double-quoted, `\` and `"`
/// backslash-escaped, `%` (specifiers) doubled, `$` (variable expansion)
/// doubled. A lone `;` (a command separator) is written as `\;`.
pub fn systemd_quote(s: &str) -> String {
    if s == ";" {
        return r"\;".to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One argument of a Windows command line, as CommandLineToArgvW and the
/// MSVC/.NET runtimes split it (Task Scheduler's `<Arguments>`): left bare
/// when it has no blank or quote, else double-quoted with backslashes
/// doubled before a quote and at the end.
pub fn windows_quote_arg(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '\t', '\n', '\u{b}', '"']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut backslashes = 0usize;
    for c in s.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
}

/// Arguments joined into one Windows command line.
pub fn windows_join(args: &[String]) -> String {
    args.iter().map(|a| windows_quote_arg(a)).collect::<Vec<_>>().join(" ")
}

/// Text content or attribute value for XML: `& < > " '` escaped.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod parsers {
    //! Tiny parsers of each language, for round-trip tests.

    use super::POWERSHELL_SINGLE_QUOTES;

    /// Parse one PowerShell single-quoted string that spans all of `s`.
    pub fn powershell_unquote(s: &str) -> Option<String> {
        let mut chars = s.chars().peekable();
        if !POWERSHELL_SINGLE_QUOTES.contains(&chars.next()?) {
            return None;
        }
        let mut out = String::new();
        while let Some(c) = chars.next() {
            if POWERSHELL_SINGLE_QUOTES.contains(&c) {
                match chars.peek() {
                    Some(n) if POWERSHELL_SINGLE_QUOTES.contains(n) => out.push(chars.next()?),
                    Some(_) => return None, // closed before the end
                    None => return Some(out),
                }
            } else {
                out.push(c);
            }
        }
        None // never closed
    }

    /// Split /bin/sh words made of single-quoted parts and `\x` escapes.
    pub fn sh_unquote(s: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => loop {
                    match chars.next()? {
                        '\'' => break,
                        c => out.push(c),
                    }
                },
                '\\' => out.push(chars.next()?),
                c if c.is_whitespace() => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }

    /// systemd's unquoting of one ExecStart word (quotes, `\\`, `\"`), then
    /// `%%` → `%` and `$$` → `$`.
    pub fn systemd_unquote(s: &str) -> Option<String> {
        if s == r"\;" {
            return Some(";".into());
        }
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    c @ ('\\' | '"') => out.push(c),
                    _ => return None,
                },
                '"' => return None,
                '%' | '$' => {
                    if chars.next()? != c {
                        return None;
                    }
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        Some(out)
    }

    /// CommandLineToArgvW's rules for arguments after the program name.
    pub fn windows_split(s: &str) -> Vec<String> {
        let mut args = Vec::new();
        let mut chars = s.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            if chars.peek().is_none() {
                return args;
            }
            let mut arg = String::new();
            let mut quoted = false;
            while let Some(&c) = chars.peek() {
                match c {
                    '\\' => {
                        let mut n = 0;
                        while chars.peek() == Some(&'\\') {
                            chars.next();
                            n += 1;
                        }
                        if chars.peek() == Some(&'"') {
                            arg.extend(std::iter::repeat_n('\\', n / 2));
                            if n % 2 == 1 {
                                arg.push('"');
                                chars.next();
                            }
                        } else {
                            arg.extend(std::iter::repeat_n('\\', n));
                        }
                    }
                    '"' => {
                        chars.next();
                        if quoted && chars.peek() == Some(&'"') {
                            arg.push('"');
                            chars.next();
                        } else {
                            quoted = !quoted;
                        }
                    }
                    ' ' | '\t' if !quoted => break,
                    c => {
                        arg.push(c);
                        chars.next();
                    }
                }
            }
            args.push(arg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parsers::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_examples() {
        assert_eq!(powershell_quote("O'Brien"), "'O''Brien'");
        assert_eq!(powershell_quote("a’b"), "'a’’b'");
        assert_eq!(powershell_quote("$env:X `n"), "'$env:X `n'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(systemd_quote(r#"a\b"c%d$e"#), r#""a\\b\"c%%d$$e""#);
        assert_eq!(systemd_quote(";"), r"\;");
        assert_eq!(windows_quote_arg("plain"), "plain");
        assert_eq!(windows_quote_arg(""), "\"\"");
        assert_eq!(windows_quote_arg(r"C:\My Repo\"), r#""C:\My Repo\\""#);
        assert_eq!(windows_quote_arg(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(xml_escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
    }

    proptest! {
        #[test]
        fn powershell_round_trips(s in "\\PC*") {
            prop_assert_eq!(powershell_unquote(&powershell_quote(&s)), Some(s));
        }

        #[test]
        fn powershell_round_trips_quote_heavy(s in "[a'‘’‚‛ $`\"]*") {
            prop_assert_eq!(powershell_unquote(&powershell_quote(&s)), Some(s));
        }

        #[test]
        fn sh_round_trips(s in "[^\\x00]*") {
            prop_assert_eq!(sh_unquote(&sh_quote(&s)), Some(s));
        }

        #[test]
        fn systemd_round_trips(s in "[a\\\\\"%$; ]*|\\PC*") {
            prop_assert_eq!(systemd_unquote(&systemd_quote(&s)), Some(s));
        }

        #[test]
        fn windows_round_trips(args in proptest::collection::vec("[a\\\\\" \t]*|\\PC*", 0..5)) {
            prop_assert_eq!(windows_split(&windows_join(&args)), args);
        }
    }
}
