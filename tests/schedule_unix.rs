//! cron and systemd definitions checked by the programs that read them:
//! the cron command runs under /bin/sh and must hand pwsh exactly its
//! arguments; the units pass `systemd-analyze verify` when it is installed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use backup_repo::schedule::{cron_line, export, systemd_units, write_units, ScheduleSpec, Trigger, GENERATED_MARKER};

/// Arguments no quoting should mangle.
fn nasty_args() -> Vec<String> {
    [
        "-NoProfile",
        "-Command",
        "Import-Module BackupRepo; Backup-Repo -Path '/home/o''brien/my repo'",
        "it's \"quoted\" $HOME `date` $(id) \\ back\\slash",
        "100% done %s %%",
        ";",
        "a;b|c&d>e<f*g?h[i]~j#k!l{m}",
        "",
        "ünïcödé ✓ ’typographic’",
        "\\'\\\"\\\\",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A fake pwsh that prints its working folder and each argument, NUL-terminated.
fn fake_pwsh(dir: &Path) -> PathBuf {
    let path = dir.join("fake pwsh bin");
    fs::write(&path, "#!/bin/sh\nprintf '%s\\0' \"$(pwd)\"\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done\n")
        .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn spec(trigger: Trigger, pwsh: PathBuf, working_dir: PathBuf) -> ScheduleSpec {
    ScheduleSpec { name: "BackupRepo-my-repo".into(), trigger, pwsh, arguments: nasty_args(), working_dir, user: None }
}

#[test]
fn cron_schedules() {
    let s = |t| cron_line(&spec(t, "/usr/bin/pwsh".into(), "/src/x".into()));
    assert!(s(Trigger::Daily { at: "02:30".parse().unwrap() })
        .starts_with("30 2 * * * cd '/src/x' && '/usr/bin/pwsh' '-NoProfile'"));
    assert!(s(Trigger::Daily { at: "00:00".parse().unwrap() }).starts_with("0 0 * * * "));
    assert!(s(Trigger::Hourly).starts_with("0 * * * * cd "));
    assert!(s(Trigger::AtLogon).starts_with("@reboot cd "));
    assert!(!s(Trigger::Hourly).contains('\n'));
}

#[test]
fn cron_command_runs_under_sh_with_exact_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("it's a \"repo\" $HOME %d");
    fs::create_dir(&work).unwrap();
    let sp = spec(Trigger::Hourly, fake_pwsh(tmp.path()), work.clone());
    let line = cron_line(&sp);
    // What cron does: drop the five time fields, turn `\%` into `%`, hand the rest to sh.
    let command: String = line.splitn(6, ' ').nth(5).unwrap().to_string();
    assert!(!command.replace(r"\%", "").contains('%'), "a bare % would become a newline: {command}");
    let command = command.replace(r"\%", "%");
    let out = Command::new("/bin/sh").arg("-c").arg(&command).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut fields: Vec<String> = String::from_utf8(out.stdout).unwrap().split('\0').map(str::to_string).collect();
    assert_eq!(fields.pop().as_deref(), Some("")); // after the last NUL
    assert_eq!(fields[0], work.canonicalize().unwrap().to_str().unwrap());
    assert_eq!(fields[1..], nasty_args()[..]);
}

#[test]
fn systemd_units_shape() {
    let daily = spec(Trigger::Daily { at: "02:30".parse().unwrap() }, "/usr/bin/pwsh".into(), "/srv/100% repo".into());
    let (service, timer) = systemd_units(&daily);
    for unit in [&service, &timer] {
        assert!(unit.starts_with(GENERATED_MARKER));
    }
    assert!(service.contains("\n[Service]\nType=oneshot\n"));
    assert!(service.contains("\nWorkingDirectory=/srv/100%% repo\n"));
    let exec = service.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(exec.starts_with(r#"ExecStart="/usr/bin/pwsh" "-NoProfile" "-Command" "Import-Module BackupRepo; Backup-Repo -Path '/home/o''brien/my repo'""#), "{exec}");
    assert!(
        exec.contains(r#" "it's \"quoted\" $$HOME `date` $$(id) \\ back\\slash" "100%% done %%s %%%%" \; "#),
        "{exec}"
    );
    assert!(timer.contains("\n[Timer]\nOnCalendar=*-*-* 02:30:00\nPersistent=true\nUnit=BackupRepo-my-repo.service\n"));
    assert!(timer.contains("\n[Install]\nWantedBy=timers.target\n"));
    let (_, hourly) = systemd_units(&spec(Trigger::Hourly, "/p".into(), "/w".into()));
    assert!(hourly.contains("\nOnCalendar=hourly\nPersistent=true\n"));
    let (_, logon) = systemd_units(&spec(Trigger::AtLogon, "/p".into(), "/w".into()));
    assert!(logon.contains("\nOnBootSec=1min\n") && !logon.contains("Persistent"));
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let Ok(which) = Command::new("which").arg("systemd-analyze").output() else {
        eprintln!("SKIPPED: systemd-analyze verify (no `which`)");
        return;
    };
    if !which.status.success() {
        eprintln!("SKIPPED: systemd-analyze verify: systemd-analyze is not installed; structural checks only");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("my repo 100%");
    fs::create_dir(&work).unwrap();
    let pwsh = fake_pwsh(tmp.path());
    for (i, trigger) in
        [Trigger::Daily { at: "02:30".parse().unwrap() }, Trigger::Hourly, Trigger::AtLogon].into_iter().enumerate()
    {
        let units = tmp.path().join(format!("units{i}"));
        let sp = spec(trigger, pwsh.clone(), work.clone());
        let files = write_units(&sp, &units, false).unwrap();
        let out = Command::new("systemd-analyze").arg("verify").arg("--man=no").args(&files).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{trigger}: {stderr}\n{}",
            fs::read_to_string(&files[0]).unwrap()
        );
    }
}

#[test]
fn write_units_is_atomic_and_respects_foreign_files() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("systemd/user");
    let sp = spec(Trigger::Hourly, "/usr/bin/pwsh".into(), "/src/x".into());
    let files = write_units(&sp, &folder, false).unwrap();
    assert_eq!(files, vec![folder.join("BackupRepo-my-repo.service"), folder.join("BackupRepo-my-repo.timer")]);
    let (service, timer) = systemd_units(&sp);
    assert_eq!(fs::read_to_string(&files[0]).unwrap(), service);
    assert_eq!(fs::read_to_string(&files[1]).unwrap(), timer);
    assert_eq!(fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o644);

    // Ours: rewritten freely.
    let daily = ScheduleSpec { trigger: Trigger::Daily { at: "03:00".parse().unwrap() }, ..sp.clone() };
    write_units(&daily, &folder, false).unwrap();
    assert!(fs::read_to_string(&files[1]).unwrap().contains("OnCalendar=*-*-* 03:00:00"));

    // Not ours: refused, and nothing is written (not even the other file).
    fs::write(&files[1], "[Timer]\nOnCalendar=weekly\n").unwrap();
    let before = fs::read_to_string(&files[0]).unwrap();
    let err = write_units(&sp, &folder, false).unwrap_err();
    assert!(
        err.message.contains("refusing to overwrite") && err.message.contains("BackupRepo-my-repo.timer"),
        "{}",
        err.message
    );
    assert_eq!(fs::read_to_string(&files[1]).unwrap(), "[Timer]\nOnCalendar=weekly\n");
    assert_eq!(fs::read_to_string(&files[0]).unwrap(), before);

    // Asked to overwrite: replaced.
    write_units(&sp, &folder, true).unwrap();
    assert!(fs::read_to_string(&files[1]).unwrap().contains("OnCalendar=hourly"));

    // No temporary files left behind.
    let names: Vec<String> =
        fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // A pwsh path systemd would refuse is refused here, before writing.
    let quoted = ScheduleSpec { pwsh: "/opt/o'brien/pwsh".into(), ..sp.clone() };
    assert!(write_units(&quoted, &folder, true).unwrap_err().message.contains("without quotes or backslashes"));
    let relative = ScheduleSpec { pwsh: "pwsh".into(), ..sp.clone() };
    assert!(write_units(&relative, &folder, true).is_err());

    // An invalid spec writes nothing.
    let bad = ScheduleSpec { name: "../escape".into(), ..sp };
    assert!(write_units(&bad, &folder, true).is_err());
    assert!(!tmp.path().join("systemd/escape.service").exists());
}

#[test]
fn export_bundles_everything() {
    let sp = spec(Trigger::AtLogon, "/usr/bin/pwsh".into(), "/src/x".into());
    let e = export(&sp).unwrap();
    assert_eq!(e.service_file_name, "BackupRepo-my-repo.service");
    assert_eq!(e.timer_file_name, "BackupRepo-my-repo.timer");
    assert!(e.cron_line.starts_with("@reboot "));
    assert!(e.task_xml.contains("<LogonTrigger>"));
    let json = serde_json::to_value(&e).unwrap();
    for k in ["task_xml", "windows_arguments", "cron_line", "service", "timer"] {
        assert!(json[k].is_string(), "{k}");
    }
}
