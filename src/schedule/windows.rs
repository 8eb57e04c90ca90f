//! Windows Task Scheduler 1.2 task definition.

use super::quote::{windows_join, xml_escape};
use super::{ScheduleSpec, Trigger};

/// The date part of every trigger's StartBoundary: a fixed day in the past,
/// so the output is deterministic and the trigger is active at once.
/// StartBoundary has no zone: local time, as Windows writes it.
pub const TASK_START_DATE: &str = "2025-01-01";

/// The task as Task Scheduler XML (schema 1.2). The declaration says
/// UTF-16, as Windows writes it; `Register-ScheduledTask -Xml` takes the
/// string as is, and a file for `schtasks /Create /XML` must be written as
/// UTF-16LE with a BOM: [`task_scheduler_xml_utf16le`].
///
/// Runs `spec.pwsh` with `spec.arguments` joined by Windows command-line
/// rules, in `spec.working_dir`, as the interactive user with least
/// privilege; one instance at a time, started late when a run was missed,
/// stopped after 2 hours, on battery too. Task Scheduler expands
/// `%VARIABLES%` in Command and Arguments.
pub fn task_scheduler_xml(spec: &ScheduleSpec) -> String {
    let user = spec.user.as_deref().map(|u| format!("\n      <UserId>{}</UserId>", xml_escape(u))).unwrap_or_default();
    let trigger = match spec.trigger {
        Trigger::Daily { at } => format!(
            "    <CalendarTrigger>
      <StartBoundary>{TASK_START_DATE}T{at}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>"
        ),
        Trigger::Hourly => format!(
            "    <TimeTrigger>
      <Repetition>
        <Interval>PT1H</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <StartBoundary>{TASK_START_DATE}T00:00:00</StartBoundary>
      <Enabled>true</Enabled>
    </TimeTrigger>"
        ),
        Trigger::AtLogon => format!(
            "    <LogonTrigger>
      <Enabled>true</Enabled>{user}
    </LogonTrigger>"
        ),
    };
    let description = format!("BackupRepo: back up {} ({})", spec.working_dir.display(), spec.trigger);
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Author>BackupRepo</Author>
    <Description>{description}</Description>
    <URI>\{name}</URI>
  </RegistrationInfo>
  <Triggers>
{trigger}
  </Triggers>
  <Principals>
    <Principal id="Author">{user}
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT2H</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
      <Arguments>{arguments}</Arguments>
      <WorkingDirectory>{working_dir}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"#,
        description = xml_escape(&description),
        name = xml_escape(&spec.name),
        command = xml_escape(&spec.pwsh.to_string_lossy()),
        arguments = xml_escape(&windows_join(&spec.arguments)),
        working_dir = xml_escape(&spec.working_dir.to_string_lossy()),
    )
    .replace('\n', "\r\n")
}

/// [`task_scheduler_xml`] as the bytes Windows expects in a `.xml` task
/// file: UTF-16LE with a byte-order mark.
pub fn task_scheduler_xml_utf16le(spec: &ScheduleSpec) -> Vec<u8> {
    let xml = task_scheduler_xml(spec);
    let mut out = Vec::with_capacity(2 + xml.len() * 2);
    out.extend_from_slice(&[0xFF, 0xFE]);
    for unit in xml.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}
