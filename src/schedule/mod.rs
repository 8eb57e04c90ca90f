//! Scheduling definitions for a recurring backup: a Windows Task Scheduler
//! XML task, a cron line, and systemd `.service` + `.timer` units, all
//! running the same pwsh command line.
//!
//! Text generation is pure ([`task_scheduler_xml`], [`cron_line`],
//! [`systemd_units`]) and assumes a spec that passed
//! [`ScheduleSpec::validate`]; [`export`] validates and builds all of them
//! (what `Export-RepoBackupSchedule` and `-WhatIf` show). [`write_units`] is
//! the one function that touches the disk.

mod quote;
mod unix;
mod windows;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{Error, Result};

pub use quote::{powershell_quote, sh_quote, systemd_quote, windows_join, windows_quote_arg, xml_escape};
pub use unix::{cron_line, systemd_units, write_units, GENERATED_MARKER};
pub use windows::{task_scheduler_xml, task_scheduler_xml_utf16le, TASK_START_DATE};

/// A time of day, written `HH:MM` (24 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl TimeOfDay {
    pub fn new(hour: u8, minute: u8) -> Result<Self> {
        if hour > 23 || minute > 59 {
            return Err(Error::invalid(format!("invalid time {hour}:{minute:02}: expected HH:MM from 00:00 to 23:59")));
        }
        Ok(TimeOfDay { hour, minute })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl FromStr for TimeOfDay {
    type Err = Error;

    /// `HH:MM` or `H:MM`, 00:00 to 23:59.
    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::invalid(format!("invalid time '{s}': expected HH:MM from 00:00 to 23:59 (for example 02:30)"));
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let digits =
            |t: &str, n: std::ops::RangeInclusive<usize>| n.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(h, 1..=2) || !digits(m, 2..=2) {
            return Err(bad());
        }
        let (hour, minute) = (h.parse::<u8>().map_err(|_| bad())?, m.parse::<u8>().map_err(|_| bad())?);
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(TimeOfDay { hour, minute })
    }
}

impl serde::Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e: Error| serde::de::Error::custom(e.message))
    }
}

/// When the backup runs. JSON: `{"kind":"daily","at":"02:30"}`,
/// `{"kind":"hourly"}`, `{"kind":"at_logon"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    Daily { at: TimeOfDay },
    Hourly,
    AtLogon,
}

impl Trigger {
    /// From a kind (`daily`, `hourly`, `atlogon`/`at-logon`/`at_logon`/`logon`,
    /// any case) and, for daily, a time: what `-Trigger Daily -At 02:30` gives.
    pub fn from_parts(kind: &str, at: Option<&str>) -> Result<Self> {
        let k = kind.trim().to_ascii_lowercase().replace(['-', '_', ' '], "");
        match (k.as_str(), at.map(str::trim).filter(|s| !s.is_empty())) {
            ("daily", Some(at)) => Ok(Trigger::Daily { at: at.parse()? }),
            ("daily", None) => Err(Error::invalid("a daily trigger needs a time of day (HH:MM)")),
            ("hourly", None) => Ok(Trigger::Hourly),
            ("atlogon" | "logon", None) => Ok(Trigger::AtLogon),
            ("hourly" | "atlogon" | "logon", Some(at)) => {
                Err(Error::invalid(format!("a time of day ('{at}') applies only to a daily trigger, not '{kind}'")))
            }
            _ => Err(Error::invalid(format!("unknown trigger '{kind}': expected daily, hourly or atlogon"))),
        }
    }
}

impl FromStr for Trigger {
    type Err = Error;

    /// `hourly`, `atlogon`, or `daily HH:MM` (also `daily@HH:MM`, `daily=HH:MM`).
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        match t.split_once([' ', '@', '=']) {
            Some((kind, at)) => Trigger::from_parts(kind, Some(at)),
            None => Trigger::from_parts(t, None),
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Daily { at } => write!(f, "daily {at}"),
            Trigger::Hourly => f.write_str("hourly"),
            Trigger::AtLogon => f.write_str("atlogon"),
        }
    }
}

/// What to run, when, and where. `name` names the task and the unit files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Empty: [`default_schedule_name`] of the working folder's name.
    #[serde(default)]
    pub name: String,
    pub trigger: Trigger,
    /// The pwsh executable; an absolute path is safest (cron's PATH is short).
    pub pwsh: PathBuf,
    /// The arguments after pwsh, one string each: [`backup_command`].
    pub arguments: Vec<String>,
    /// Absolute; the command runs there.
    pub working_dir: PathBuf,
    /// Windows account (`DOMAIN\user`) for the task's principal and logon
    /// trigger; None: whoever registers it.
    #[serde(default)]
    pub user: Option<String>,
}

impl ScheduleSpec {
    /// The spec with its name filled in when it has none.
    pub fn named(mut self) -> ScheduleSpec {
        if self.name.is_empty() {
            let wd = self.working_dir.to_string_lossy().replace('\\', "/");
            let repo = wd.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
            self.name = default_schedule_name(&repo);
        }
        self
    }

    /// Refuses what no target can represent: a name that is not a safe file
    /// and task name (`[A-Za-z0-9._-]`, 1–100 chars, not starting with `.`
    /// or `-`), control characters (newlines break cron lines and unit
    /// files; XML 1.0 cannot carry most of them), an empty pwsh, and a
    /// working folder that is not absolute (Windows or Unix form).
    pub fn validate(&self) -> Result<()> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 100
            || n.starts_with(['.', '-'])
            || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(Error::invalid(format!(
                "invalid schedule name '{n}': use 1 to 100 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
            )));
        }
        let pwsh = self.pwsh.to_string_lossy();
        if pwsh.trim().is_empty() {
            return Err(Error::invalid("the pwsh path is empty"));
        }
        let wd = self.working_dir.to_string_lossy();
        if !looks_absolute(&wd) {
            return Err(Error::invalid(format!("the working folder '{wd}' must be an absolute path")));
        }
        if wd.trim() != wd {
            return Err(Error::invalid(format!("the working folder '{wd}' must not start or end with blanks")));
        }
        let texts = [("pwsh path", pwsh.as_ref()), ("working folder", wd.as_ref())]
            .into_iter()
            .chain(self.arguments.iter().map(|a| ("argument", a.as_str())))
            .chain(self.user.iter().map(|u| ("user", u.as_str())));
        for (what, text) in texts {
            if text.chars().any(char::is_control) {
                return Err(Error::invalid(format!(
                    "the {what} {text:?} contains a control character (newline, tab…)"
                )));
            }
        }
        Ok(())
    }
}

/// `/x`, `C:\x`, `C:/x`, `\\server\share`: absolute on either family.
fn looks_absolute(p: &str) -> bool {
    let b = p.as_bytes();
    p.starts_with('/')
        || p.starts_with(r"\\")
        || (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
}

/// A token of `extra` passed through verbatim: a parameter name
/// (`-Verify`, `-KeepLast`) or a switch with an explicit value
/// (`-Verify:$false`). Anything else is quoted as a literal string.
fn is_parameter_token(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('-') else {
        return false;
    };
    let (name, value) = match rest.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (rest, None),
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && value.is_none_or(|v| v.eq_ignore_ascii_case("$true") || v.eq_ignore_ascii_case("$false"))
}

/// The pwsh arguments that run one backup:
/// `-NoProfile -NonInteractive -Command "Import-Module BackupRepo; Backup-Repo -Path '<repo>' -Destination '<d1>','<d2>' <extra>"`.
/// Paths are PowerShell single-quoted ([`powershell_quote`]). Each `extra`
/// token that is a parameter name (`-Verify`, `-KeepLast`, `-Verify:$false`)
/// is kept as is; every other token is quoted as a literal value, so
/// `["-KeepLast", "10", "-WebhookUrl", "https://…"]` cannot inject code.
pub fn backup_command(repo_path: &Path, destinations: &[PathBuf], extra: &[String]) -> Vec<String> {
    let mut cmd =
        format!("Import-Module BackupRepo; Backup-Repo -Path {}", powershell_quote(&repo_path.to_string_lossy()));
    if !destinations.is_empty() {
        let list: Vec<String> = destinations.iter().map(|d| powershell_quote(&d.to_string_lossy())).collect();
        cmd.push_str(" -Destination ");
        cmd.push_str(&list.join(","));
    }
    for t in extra {
        cmd.push(' ');
        if is_parameter_token(t) {
            cmd.push_str(t);
        } else {
            cmd.push_str(&powershell_quote(t));
        }
    }
    vec!["-NoProfile".into(), "-NonInteractive".into(), "-Command".into(), cmd]
}

/// A task/unit name from a repository name: `BackupRepo-<repo>` with every
/// character outside `[A-Za-z0-9._-]` replaced by `_`, and, when anything was
/// replaced or cut, 8 hex digits of the name's hash, so two repositories
/// (`a b`, `a_b`) never get one name.
pub fn default_schedule_name(repo: &str) -> String {
    let clean: String =
        repo.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).take(80).collect();
    if clean == repo && !clean.is_empty() {
        format!("BackupRepo-{clean}")
    } else {
        format!("BackupRepo-{clean}-{}", &blake3::hash(repo.as_bytes()).to_hex()[..8])
    }
}

/// Everything `Export-RepoBackupSchedule` shows, from one validated spec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleExport {
    /// The task and unit name used (the spec's, or the default one).
    pub name: String,
    /// Task Scheduler XML (declares UTF-16: write it with
    /// [`task_scheduler_xml_utf16le`] or as UTF-16LE with a BOM).
    pub task_xml: String,
    /// The Arguments string inside the task (the Windows command line).
    pub windows_arguments: String,
    pub cron_line: String,
    pub service_file_name: String,
    pub service: String,
    pub timer_file_name: String,
    pub timer: String,
}

/// Validate `spec` and build every definition.
pub fn export(spec: &ScheduleSpec) -> Result<ScheduleExport> {
    spec.validate()?;
    let (service, timer) = systemd_units(spec);
    Ok(ScheduleExport {
        name: spec.name.clone(),
        task_xml: task_scheduler_xml(spec),
        windows_arguments: windows_join(&spec.arguments),
        cron_line: cron_line(spec),
        service_file_name: format!("{}.service", spec.name),
        service,
        timer_file_name: format!("{}.timer", spec.name),
        timer,
    })
}

#[cfg(test)]
mod tests {
    use super::quote::parsers::powershell_unquote;
    use super::*;

    #[test]
    fn times_parse_and_reject_clearly() {
        assert_eq!("02:30".parse::<TimeOfDay>().unwrap(), TimeOfDay { hour: 2, minute: 30 });
        assert_eq!("7:05".parse::<TimeOfDay>().unwrap().to_string(), "07:05");
        assert_eq!("23:59".parse::<TimeOfDay>().unwrap().to_string(), "23:59");
        for bad in ["24:00", "12:60", "12", "12:5", "ab:cd", "", "-1:30", "123:00", "12:00:00", "+1:30"] {
            let e = bad.parse::<TimeOfDay>().unwrap_err();
            assert!(e.message.contains(&format!("'{bad}'")) && e.message.contains("HH:MM"), "{}", e.message);
        }
    }

    #[test]
    fn triggers_parse() {
        assert_eq!("hourly".parse::<Trigger>().unwrap(), Trigger::Hourly);
        assert_eq!("AtLogon".parse::<Trigger>().unwrap(), Trigger::AtLogon);
        assert_eq!("at-logon".parse::<Trigger>().unwrap(), Trigger::AtLogon);
        assert_eq!("Daily 02:30".parse::<Trigger>().unwrap(), Trigger::Daily { at: TimeOfDay { hour: 2, minute: 30 } });
        assert_eq!("daily@2:30".parse::<Trigger>().unwrap().to_string(), "daily 02:30");
        assert!("daily".parse::<Trigger>().unwrap_err().message.contains("needs a time"));
        assert!("hourly 02:00".parse::<Trigger>().unwrap_err().message.contains("only to a daily"));
        assert!("weekly".parse::<Trigger>().unwrap_err().message.contains("'weekly'"));
        assert!(Trigger::from_parts("daily", Some("25:00")).unwrap_err().message.contains("'25:00'"));
    }

    #[test]
    fn trigger_json_shape() {
        let t = Trigger::Daily { at: "02:30".parse().unwrap() };
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"kind":"daily","at":"02:30"}"#);
        assert_eq!(serde_json::from_str::<Trigger>(r#"{"kind":"at_logon"}"#).unwrap(), Trigger::AtLogon);
        let e = serde_json::from_str::<Trigger>(r#"{"kind":"daily","at":"9am"}"#).unwrap_err();
        assert!(e.to_string().contains("'9am'"), "{e}");
    }

    #[test]
    fn backup_command_quotes_paths_and_values() {
        let args = backup_command(
            Path::new("/home/me/src/O'Brien's repo"),
            &[PathBuf::from("/mnt/backup"), PathBuf::from("/media/usb ’drive")],
            &["-Verify".into(), "-KeepLast".into(), "10".into(), "-Verify:$false".into(), "$(rm -rf ~)".into()],
        );
        assert_eq!(&args[..3], ["-NoProfile", "-NonInteractive", "-Command"]);
        assert_eq!(
            args[3],
            "Import-Module BackupRepo; Backup-Repo -Path '/home/me/src/O''Brien''s repo' -Destination '/mnt/backup','/media/usb ’’drive' -Verify -KeepLast '10' -Verify:$false '$(rm -rf ~)'"
        );
        assert_eq!(powershell_unquote("'/home/me/src/O''Brien''s repo'").unwrap(), "/home/me/src/O'Brien's repo");
        let bare = backup_command(Path::new(r"C:\src\x"), &[], &[]);
        assert_eq!(bare[3], r"Import-Module BackupRepo; Backup-Repo -Path 'C:\src\x'");
    }

    #[test]
    fn parameter_tokens() {
        for ok in ["-Verify", "-KeepLast", "-Verify:$true", "-IncludeBuild:$FALSE"] {
            assert!(is_parameter_token(ok), "{ok}");
        }
        for no in ["-", "10", "-1", "-Verify:$(x)", "-Verify;rm", "--x", "-a b"] {
            assert!(!is_parameter_token(no), "{no}");
        }
    }

    fn spec() -> ScheduleSpec {
        ScheduleSpec {
            name: "BackupRepo-x".into(),
            trigger: Trigger::Hourly,
            pwsh: "/usr/bin/pwsh".into(),
            arguments: vec!["-NoProfile".into()],
            working_dir: "/home/me/src/x".into(),
            user: None,
        }
    }

    #[test]
    fn validation() {
        assert!(spec().validate().is_ok());
        for name in ["", ".x", "-x", "a/b", "a b", "ä"] {
            let s = ScheduleSpec { name: name.into(), ..spec() };
            assert!(s.validate().unwrap_err().message.contains("invalid schedule name"), "{name}");
        }
        let s = ScheduleSpec { arguments: vec!["a\nb".into()], ..spec() };
        assert!(s.validate().unwrap_err().message.contains("control character"));
        let s = ScheduleSpec { working_dir: "relative/dir".into(), ..spec() };
        assert!(s.validate().unwrap_err().message.contains("absolute"));
        for abs in [r"C:\src", "D:/src", r"\\srv\share", "/x"] {
            assert!(ScheduleSpec { working_dir: abs.into(), ..spec() }.validate().is_ok(), "{abs}");
        }
        assert!(export(&ScheduleSpec { name: "a b".into(), ..spec() }).is_err());
        let hash8 = |s: &str| blake3::hash(s.as_bytes()).to_hex()[..8].to_string();
        assert_eq!(default_schedule_name("my repo/ü"), format!("BackupRepo-my_repo__-{}", hash8("my repo/ü")));
        assert_eq!(default_schedule_name("my-repo.2"), "BackupRepo-my-repo.2");
        // Two repositories never share a name.
        assert_ne!(default_schedule_name("a b"), default_schedule_name("a_b"));
        let named = ScheduleSpec { name: String::new(), working_dir: "/src/a b/".into(), ..spec() }.named();
        assert_eq!(named.name, default_schedule_name("a b"));
        assert_eq!(export(&named).unwrap().name, named.name);
    }
}
