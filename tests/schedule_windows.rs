//! The Task Scheduler XML, parsed back with quick-xml: the elements the
//! Task Scheduler 1.2 schema requires, per trigger, and the exact command.

use std::collections::BTreeMap;
use std::path::PathBuf;

use backup_repo::schedule::{
    backup_command, task_scheduler_xml, task_scheduler_xml_utf16le, windows_join, ScheduleSpec, Trigger,
};
use quick_xml::escape::unescape;
use quick_xml::events::Event;
use quick_xml::Reader;

/// Element path (`Task/Actions/Exec/Command`) → its text, and the attributes
/// of each path; panics on malformed XML.
struct Doc {
    text: BTreeMap<String, String>,
    attrs: BTreeMap<String, Vec<(String, String)>>,
    count: BTreeMap<String, usize>,
}

fn parse(xml: &str) -> Doc {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut doc = Doc { text: BTreeMap::new(), attrs: BTreeMap::new(), count: BTreeMap::new() };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                stack.push(e.local_name().as_ref().to_string());
                let path = stack.join("/");
                *doc.count.entry(path.clone()).or_default() += 1;
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (a.key.as_ref().to_string(), unescape(&a.value).unwrap().into_owned())
                    })
                    .collect();
                doc.attrs.insert(path, attrs);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                let s = unescape(&t).unwrap().into_owned();
                doc.text.entry(stack.join("/")).or_default().push_str(&s);
            }
            Event::GeneralRef(r) => {
                let s = unescape(&format!("&{};", &*r)).unwrap().into_owned();
                doc.text.entry(stack.join("/")).or_default().push_str(&s);
            }
            Event::Empty(e) => panic!("unexpected empty element {:?}", e.name()),
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
    doc
}

impl Doc {
    fn get(&self, path: &str) -> &str {
        self.text.get(path).map(|s| s.trim()).unwrap_or_else(|| panic!("missing text of {path}"))
    }
    fn has(&self, path: &str) -> bool {
        self.count.contains_key(path)
    }
}

fn nasty_spec(trigger: Trigger) -> ScheduleSpec {
    let repo = PathBuf::from(r#"C:\Users\O'Brien\src\R&D <tools> "x" 100%"#);
    let args = backup_command(
        &repo,
        &[PathBuf::from(r"\\nas\backup\dev\"), PathBuf::from(r"D:\Backups & ‘co’")],
        &["-Verify".into(), "-KeepLast".into(), "10".into()],
    );
    ScheduleSpec {
        name: "BackupRepo-RnD".into(),
        trigger,
        pwsh: PathBuf::from(r"C:\Program Files\PowerShell\7\pwsh.exe"),
        arguments: args,
        working_dir: repo,
        user: Some(r"CONTOSO\obrien".into()),
    }
}

const REQUIRED: &[&str] = &[
    "Task/RegistrationInfo", "Task/Triggers", "Task/Principals/Principal", "Task/Settings", "Task/Actions/Exec/Command",
];

#[test]
fn every_trigger_gives_the_required_elements_and_settings() {
    for trigger in [Trigger::Daily { at: "02:30".parse().unwrap() }, Trigger::Hourly, Trigger::AtLogon] {
        let spec = nasty_spec(trigger);
        let xml = task_scheduler_xml(&spec);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-16\"?>"));
        let doc = parse(&xml);
        for path in REQUIRED {
            assert!(doc.has(path), "{trigger}: missing {path}");
        }
        let task = &doc.attrs["Task"];
        assert!(task.contains(&("version".into(), "1.2".into())));
        assert!(task.contains(&("xmlns".into(), "http://schemas.microsoft.com/windows/2004/02/mit/task".into())));
        assert_eq!(doc.count["Task/Triggers"], 1);
        assert_eq!(doc.get("Task/Principals/Principal/LogonType"), "InteractiveToken");
        assert_eq!(doc.get("Task/Principals/Principal/RunLevel"), "LeastPrivilege");
        assert_eq!(doc.get("Task/Principals/Principal/UserId"), r"CONTOSO\obrien");
        assert_eq!(doc.attrs["Task/Principals/Principal"], vec![("id".to_string(), "Author".to_string())]);
        assert_eq!(doc.attrs["Task/Actions"], vec![("Context".to_string(), "Author".to_string())]);
        assert_eq!(doc.get("Task/Settings/MultipleInstancesPolicy"), "IgnoreNew");
        assert_eq!(doc.get("Task/Settings/StartWhenAvailable"), "true");
        assert_eq!(doc.get("Task/Settings/ExecutionTimeLimit"), "PT2H");
        assert_eq!(doc.get("Task/Settings/DisallowStartIfOnBatteries"), "false");
        assert_eq!(doc.get("Task/RegistrationInfo/URI"), r"\BackupRepo-RnD");
        assert_eq!(doc.get("Task/Actions/Exec/Command"), r"C:\Program Files\PowerShell\7\pwsh.exe");
        assert_eq!(doc.get("Task/Actions/Exec/WorkingDirectory"), spec.working_dir.to_str().unwrap());
        match trigger {
            Trigger::Daily { .. } => {
                assert_eq!(doc.get("Task/Triggers/CalendarTrigger/StartBoundary"), "2025-01-01T02:30:00");
                assert_eq!(doc.get("Task/Triggers/CalendarTrigger/ScheduleByDay/DaysInterval"), "1");
                assert_eq!(doc.get("Task/Triggers/CalendarTrigger/Enabled"), "true");
            }
            Trigger::Hourly => {
                assert_eq!(doc.get("Task/Triggers/TimeTrigger/Repetition/Interval"), "PT1H");
                assert_eq!(doc.get("Task/Triggers/TimeTrigger/StartBoundary"), "2025-01-01T00:00:00");
            }
            Trigger::AtLogon => {
                assert_eq!(doc.get("Task/Triggers/LogonTrigger/Enabled"), "true");
                assert_eq!(doc.get("Task/Triggers/LogonTrigger/UserId"), r"CONTOSO\obrien");
            }
        }
    }
}

#[test]
fn arguments_round_trip_exactly() {
    let spec = nasty_spec(Trigger::Hourly);
    let doc = parse(&task_scheduler_xml(&spec));
    let text = doc.text["Task/Actions/Exec/Arguments"].clone();
    assert_eq!(text, windows_join(&spec.arguments));
    assert_eq!(
        text,
        r#"-NoProfile -NonInteractive -Command "Import-Module BackupRepo; Backup-Repo -Path 'C:\Users\O''Brien\src\R&D <tools> \"x\" 100%' -Destination '\\nas\backup\dev\','D:\Backups & ‘‘co’’' -Verify -KeepLast '10'""#
    );
}

#[test]
fn no_user_means_no_user_id() {
    let spec = ScheduleSpec { user: None, ..nasty_spec(Trigger::AtLogon) };
    let doc = parse(&task_scheduler_xml(&spec));
    assert!(!doc.has("Task/Principals/Principal/UserId"));
    assert!(!doc.has("Task/Triggers/LogonTrigger/UserId"));
}

#[test]
fn utf16le_file_has_bom_and_same_text() {
    let spec = nasty_spec(Trigger::Daily { at: "23:05".parse().unwrap() });
    let bytes = task_scheduler_xml_utf16le(&spec);
    assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
    let units: Vec<u16> = bytes[2..].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    assert_eq!(String::from_utf16(&units).unwrap(), task_scheduler_xml(&spec));
}
