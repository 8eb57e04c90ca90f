using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo
{
    /// <summary>Which definitions Export-RepoBackupSchedule fills in (and writes with -OutputDirectory).</summary>
    public enum ScheduleFormat { All, TaskXml, Cron, Systemd }

    /// <summary>A recurring backup, as Task Scheduler XML, a cron line and systemd units (all run the same command).</summary>
    public sealed class ScheduleDefinition
    {
        public string Name { get; set; } = "";
        /// <summary>"daily 02:30", "hourly" or "atlogon".</summary>
        public string Trigger { get; set; } = "";
        public string Repository { get; set; } = "";
        /// <summary>The pwsh executable the schedule runs.</summary>
        public string Command { get; set; } = "";
        /// <summary>pwsh's arguments, one per item.</summary>
        public string[] Arguments { get; set; } = Array.Empty<string>();
        public string WorkingDirectory { get; set; } = "";
        /// <summary>Task Scheduler 1.2 XML (declares UTF-16; files are written UTF-16LE with a BOM).</summary>
        public string? TaskXml { get; set; }
        /// <summary>The Arguments string inside the task (Windows command-line quoting).</summary>
        public string? WindowsArguments { get; set; }
        /// <summary>One crontab line (crontab -e).</summary>
        public string? Cron { get; set; }
        public string? ServiceFileName { get; set; }
        public string? Service { get; set; }
        public string? TimerFileName { get; set; }
        public string? Timer { get; set; }
        /// <summary>Files written (-OutputDirectory, Register-RepoBackupSchedule).</summary>
        public string[] Files { get; set; } = Array.Empty<string>();

        public override string ToString() => $"{Name} ({Trigger})";
    }
}

namespace BackupRepo.Commands
{
    /// <summary>
    /// What both schedule cmdlets take: the repository, its destinations, the
    /// trigger (-Daily HH:mm, -Hourly, -AtLogon) and the name. Builds the spec
    /// (src/schedule ScheduleSpec) and asks the engine for the definitions.
    /// </summary>
    public abstract class ScheduleCmdlet : BackupRepoCmdlet
    {
        /// <summary>The repository to back up; default: the current folder.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [Alias("FullName")]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        /// <summary>Destination roots for the scheduled run; default: whatever Backup-Repo uses then.</summary>
        [Parameter(Position = 1)]
        [ArgumentCompleter(typeof(DestinationCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Destination { get; set; }

        /// <summary>Every day at this time (HH:mm, 24 h).</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Daily")]
        [ValidatePattern(@"^\d{1,2}:\d{2}$")]
        public string? Daily { get; set; }

        /// <summary>Every hour, on the hour.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "Hourly")]
        public SwitchParameter Hourly { get; set; }

        /// <summary>When the user logs on (Windows); at boot for cron and systemd, the nearest they have.</summary>
        [Parameter(Mandatory = true, ParameterSetName = "AtLogon")]
        public SwitchParameter AtLogon { get; set; }

        /// <summary>Task and unit name; default BackupRepo-&lt;repository&gt;.</summary>
        [Parameter]
        [ValidatePattern(@"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")]
        public string? Name { get; set; }

        /// <summary>More Backup-Repo arguments for the scheduled run: parameter names (-Verify, -KeepLast) are kept, every other token is quoted as a literal value.</summary>
        [Parameter]
        [ValidateNotNull]
        public string[]? ArgumentList { get; set; }

        /// <summary>The pwsh to run; default: this session's pwsh.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? PwshPath { get; set; }

        /// <summary>Windows account for the task (DOMAIN\user); default: whoever registers it.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string? User { get; set; }

        private protected string TriggerText => ParameterSetName switch
        {
            "Daily" => "daily " + Daily,
            "Hourly" => "hourly",
            _ => "atlogon",
        };

        /// <summary>The ScheduleSpec JSON and the definition's identity fields.</summary>
        private protected (string SpecJson, ScheduleDefinition Definition) BuildSpec()
        {
            string repo = GetUnresolvedProviderPathFromPSPath(Path ?? SessionState.Path.CurrentFileSystemLocation.ProviderPath)
                .TrimEnd('/', '\\');
            if (repo.Length == 0) repo = "/";
            if (!Directory.Exists(repo))
            {
                ThrowTerminatingError(new ErrorRecord(new ItemNotFoundException($"Cannot schedule a backup of '{repo}': the folder does not exist."),
                    "BackupRepo.PathNotFound", ErrorCategory.ObjectNotFound, repo));
            }
            // No -Name: the engine names it (BackupRepo-<repo>, distinct for every repository).
            string name = Name ?? "";
            var destinations = (Destination ?? Array.Empty<string>()).Select(d => GetUnresolvedProviderPathFromPSPath(d)).ToArray();
            string pwsh = PwshPath ?? DefaultPwsh();
            string[] arguments = BackupArguments(repo, destinations, ArgumentList ?? Array.Empty<string>());

            JsonObject trigger = ParameterSetName switch
            {
                "Daily" => new JsonObject { ["kind"] = "daily", ["at"] = Daily },
                "Hourly" => new JsonObject { ["kind"] = "hourly" },
                _ => new JsonObject { ["kind"] = "at_logon" },
            };
            var spec = new JsonObject
            {
                ["name"] = name,
                ["trigger"] = trigger,
                ["pwsh"] = pwsh,
                ["arguments"] = new JsonArray(arguments.Select(a => (JsonNode?)a).ToArray()),
                ["working_dir"] = repo,
            };
            if (User != null) spec["user"] = User;
            var definition = new ScheduleDefinition
            {
                Name = name,
                Trigger = TriggerText,
                Repository = repo,
                Command = pwsh,
                Arguments = arguments,
                WorkingDirectory = repo,
            };
            return (spec.ToJsonString(), definition);
        }

        /// <summary>br_schedule_export into <paramref name="d"/>; an invalid spec is a terminating error.</summary>
        private protected void Export(string specJson, ScheduleDefinition d)
        {
            try
            {
                string json = Lib.Check(Lib.br_schedule_export(Lib.Options(specJson), out IntPtr result), result);
                using JsonDocument doc = JsonDocument.Parse(json);
                JsonElement r = doc.RootElement;
                d.Name = r.GetProperty("name").GetString() ?? d.Name;
                d.TaskXml = r.GetProperty("task_xml").GetString();
                d.WindowsArguments = r.GetProperty("windows_arguments").GetString();
                d.Cron = r.GetProperty("cron_line").GetString();
                d.ServiceFileName = r.GetProperty("service_file_name").GetString();
                d.Service = r.GetProperty("service").GetString();
                d.TimerFileName = r.GetProperty("timer_file_name").GetString();
                d.Timer = r.GetProperty("timer").GetString();
            }
            catch (BackupRepoException e)
            {
                (string id, ErrorCategory category) = e.ErrorInfo();
                ThrowTerminatingError(new ErrorRecord(e, id, category, d.Name.Length > 0 ? d.Name : d.Repository));
            }
        }

        /// <summary>br_schedule_write_units: the .service and .timer files written into <paramref name="folder"/>.</summary>
        private protected string[] WriteUnits(string specJson, string folder, bool overwrite)
        {
            string json = Lib.Check(Lib.br_schedule_write_units(Lib.Options(specJson), Lib.Utf8(folder), overwrite, out IntPtr result), result);
            return JsonSerializer.Deserialize<string[]>(json) ?? Array.Empty<string>();
        }

        /// <summary>
        /// pwsh's arguments for one backup (src/schedule backup_command): -NoProfile
        /// -NonInteractive -Command "Import-Module ...; Backup-Repo -Path '...' ...".
        /// The module is imported by name when it is installed in $env:PSModulePath,
        /// else by the full path of this module's manifest (a checkout).
        /// </summary>
        private protected string[] BackupArguments(string repo, string[] destinations, string[] extra)
        {
            var cmd = new StringBuilder();
            cmd.Append("Import-Module ").Append(ModuleReference()).Append("; Backup-Repo -Path ").Append(PowerShellQuote(repo));
            if (destinations.Length > 0)
            {
                cmd.Append(" -Destination ").Append(string.Join(",", destinations.Select(PowerShellQuote)));
            }
            foreach (string t in extra)
            {
                cmd.Append(' ').Append(IsParameterToken(t) ? t : PowerShellQuote(t));
            }
            return new[] { "-NoProfile", "-NonInteractive", "-Command", cmd.ToString() };
        }

        private string ModuleReference()
        {
            string? moduleBase = MyInvocation.MyCommand.Module?.ModuleBase;
            if (string.IsNullOrEmpty(moduleBase)) return "BackupRepo";
            string manifest = System.IO.Path.Combine(moduleBase, "BackupRepo.psd1");
            string? modulePath = Environment.GetEnvironmentVariable("PSModulePath");
            var roots = (modulePath ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(r => r.TrimEnd('/', '\\'));
            // <root>/BackupRepo or <root>/BackupRepo/<version>
            DirectoryInfo dir = new DirectoryInfo(moduleBase);
            var candidates = new[] { dir.Parent?.FullName, dir.Parent?.Parent?.FullName }.Where(p => p != null);
            StringComparison cmp = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            bool installed = roots.Any(r => candidates.Any(c => string.Equals(c!.TrimEnd('/', '\\'), r, cmp)));
            return installed ? "BackupRepo" : PowerShellQuote(manifest);
        }

        /// <summary>A PowerShell verbatim string; every single-quote character (the typographic ones too) doubled.</summary>
        internal static string PowerShellQuote(string s)
        {
            var sb = new StringBuilder(s.Length + 2).Append('\'');
            foreach (char c in s)
            {
                if (c == '\'' || c == '\u2018' || c == '\u2019' || c == '\u201A' || c == '\u201B') sb.Append(c);
                sb.Append(c);
            }
            return sb.Append('\'').ToString();
        }

        /// <summary>-Name, or -Name:$true / -Name:$false: passed through; anything else is a value.</summary>
        internal static bool IsParameterToken(string t)
        {
            if (t.Length < 2 || t[0] != '-') return false;
            string rest = t.Substring(1);
            string name = rest;
            string? value = null;
            int colon = rest.IndexOf(':');
            if (colon >= 0)
            {
                name = rest.Substring(0, colon);
                value = rest.Substring(colon + 1);
            }
            return name.Length > 0 && char.IsAsciiLetter(name[0]) && name.All(char.IsAsciiLetterOrDigit)
                && (value == null || value.Equals("$true", StringComparison.OrdinalIgnoreCase) || value.Equals("$false", StringComparison.OrdinalIgnoreCase));
        }

        /// <summary>This session's pwsh: the process when it is pwsh, else pwsh on PATH, else $PSHOME/pwsh.</summary>
        private string DefaultPwsh()
        {
            string exe = OperatingSystem.IsWindows() ? "pwsh.exe" : "pwsh";
            string? process = Environment.ProcessPath;
            if (process != null && string.Equals(System.IO.Path.GetFileName(process), exe, StringComparison.OrdinalIgnoreCase)) return process;
            foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                try
                {
                    string candidate = System.IO.Path.Combine(dir, exe);
                    if (File.Exists(candidate) && System.IO.Path.IsPathRooted(candidate)) return System.IO.Path.GetFullPath(candidate);
                }
                catch (ArgumentException)
                {
                }
            }
            string? home = SessionState.PSVariable.GetValue("PSHOME") as string;
            return home != null ? System.IO.Path.Combine(home, exe) : exe;
        }
    }

    /// <summary>Task Scheduler XML, a cron line and systemd units for a recurring backup (Export-RepoBackupSchedule).</summary>
    [Cmdlet(VerbsData.Export, "RepoBackupSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = "Daily")]
    [OutputType(typeof(ScheduleDefinition))]
    public sealed class ExportRepoBackupScheduleCommand : ScheduleCmdlet
    {
        [Parameter] public ScheduleFormat Format { get; set; } = ScheduleFormat.All;

        /// <summary>Also write the definitions here: &lt;Name&gt;.xml (UTF-16LE with BOM, for schtasks /XML), &lt;Name&gt;.cron, &lt;Name&gt;.service and &lt;Name&gt;.timer.</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string? OutputDirectory { get; set; }

        /// <summary>Replace unit files that BackupRepo did not write.</summary>
        [Parameter] public SwitchParameter Force { get; set; }

        protected override void EndProcessing()
        {
            (string spec, ScheduleDefinition d) = BuildSpec();
            Export(spec, d);
            bool xml = Format == ScheduleFormat.All || Format == ScheduleFormat.TaskXml;
            bool cron = Format == ScheduleFormat.All || Format == ScheduleFormat.Cron;
            bool systemd = Format == ScheduleFormat.All || Format == ScheduleFormat.Systemd;
            if (!xml) { d.TaskXml = null; d.WindowsArguments = null; }
            if (!cron) d.Cron = null;
            if (!systemd) { d.Service = d.Timer = d.ServiceFileName = d.TimerFileName = null; }

            if (OutputDirectory != null)
            {
                string dir = GetUnresolvedProviderPathFromPSPath(OutputDirectory);
                var files = new List<string>();
                try
                {
                    if (xml && ShouldProcess(System.IO.Path.Combine(dir, d.Name + ".xml"), "Write the Task Scheduler definition"))
                    {
                        Directory.CreateDirectory(dir);
                        string file = System.IO.Path.Combine(dir, d.Name + ".xml");
                        // The XML declares UTF-16: schtasks /Create /XML wants UTF-16LE with a BOM.
                        File.WriteAllText(file, d.TaskXml, new UnicodeEncoding(bigEndian: false, byteOrderMark: true));
                        files.Add(file);
                    }
                    if (cron && ShouldProcess(System.IO.Path.Combine(dir, d.Name + ".cron"), "Write the crontab line"))
                    {
                        Directory.CreateDirectory(dir);
                        string file = System.IO.Path.Combine(dir, d.Name + ".cron");
                        File.WriteAllText(file, d.Cron + "\n", new UTF8Encoding(false));
                        files.Add(file);
                    }
                    if (systemd && ShouldProcess(System.IO.Path.Combine(dir, d.Name + ".{service,timer}"), "Write the systemd units"))
                    {
                        files.AddRange(WriteUnits(spec, dir, Force));
                    }
                }
                catch (Exception e) when (e is BackupRepoException || e is IOException || e is UnauthorizedAccessException)
                {
                    var (id, category) = e is BackupRepoException b ? b.ErrorInfo() : ("BackupRepo.IOError", ErrorCategory.WriteError);
                    ThrowTerminatingError(new ErrorRecord(e, id, category, dir));
                }
                d.Files = files.ToArray();
            }
            WriteObject(d);
        }
    }

    /// <summary>
    /// Register a recurring backup (Register-RepoBackupSchedule): a Task Scheduler
    /// task on Windows (Register-ScheduledTask -Xml), systemd user units elsewhere.
    /// </summary>
    [Cmdlet(VerbsLifecycle.Register, "RepoBackupSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Daily")]
    [OutputType(typeof(ScheduleDefinition))]
    public sealed class RegisterRepoBackupScheduleCommand : ScheduleCmdlet
    {
        /// <summary>Where to write the systemd units (not Windows); default ~/.config/systemd/user ($XDG_CONFIG_HOME/systemd/user).</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string? OutputDirectory { get; set; }

        /// <summary>Replace an existing task, or unit files BackupRepo did not write.</summary>
        [Parameter] public SwitchParameter Force { get; set; }

        protected override void EndProcessing()
        {
            (string spec, ScheduleDefinition d) = BuildSpec();
            Export(spec, d);
            string commandLine = d.Command + " " + d.WindowsArguments;
            if (OperatingSystem.IsWindows() && OutputDirectory == null)
            {
                RegisterTask(d, commandLine);
            }
            else
            {
                RegisterUnits(spec, d, commandLine);
            }
        }

        /// <summary>Windows: Register-ScheduledTask -Xml, through the ScheduledTasks module (not testable off Windows).</summary>
        private void RegisterTask(ScheduleDefinition d, string commandLine)
        {
            if (!ShouldProcess($"Task Scheduler task '{d.Name}' ({d.Trigger}): {commandLine}", "Register scheduled task")) return;
            if (InvokeCommand.GetCommand("Register-ScheduledTask", CommandTypes.Cmdlet | CommandTypes.Function) == null)
            {
                ThrowTerminatingError(new ErrorRecord(new PSNotSupportedException(
                    "Register-ScheduledTask (the ScheduledTasks module) is not available. Use Export-RepoBackupSchedule -Format TaskXml -OutputDirectory <folder> and schtasks /Create /XML <file> /TN <name>."),
                    "BackupRepo.ScheduledTasksUnavailable", ErrorCategory.NotInstalled, d.Name));
            }
            try
            {
                InvokeCommand.InvokeScript("param($name, $xml, $force) Register-ScheduledTask -TaskName $name -Xml $xml -Force:$force -ErrorAction Stop | Out-Null",
                    d.Name, d.TaskXml, Force.IsPresent);
            }
            catch (RuntimeException e)
            {
                ThrowTerminatingError(new ErrorRecord(e, "BackupRepo.ScheduleNotRegistered", ErrorCategory.NotSpecified, d.Name));
            }
            d.Files = Array.Empty<string>();
            WriteObject(d);
        }

        /// <summary>Elsewhere: the systemd user units, and how to enable them.</summary>
        private void RegisterUnits(string spec, ScheduleDefinition d, string commandLine)
        {
            string dir;
            if (OutputDirectory != null)
            {
                dir = GetUnresolvedProviderPathFromPSPath(OutputDirectory);
            }
            else
            {
                if (OperatingSystem.IsMacOS())
                {
                    ThrowTerminatingError(new ErrorRecord(new PSNotSupportedException(
                        "macOS has no systemd: add the Cron line of Export-RepoBackupSchedule with crontab -e, or give -OutputDirectory to write the systemd units anyway."),
                        "BackupRepo.NoSystemd", ErrorCategory.NotImplemented, d.Name));
                }
                string? xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
                string config = !string.IsNullOrEmpty(xdg) && System.IO.Path.IsPathRooted(xdg)
                    ? xdg
                    : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
                dir = System.IO.Path.Combine(config, "systemd", "user");
            }
            string target = System.IO.Path.Combine(dir, d.TimerFileName ?? d.Name + ".timer");
            if (!ShouldProcess($"systemd user timer {target} ({d.Trigger}) running: {commandLine}", "Register schedule")) return;
            try
            {
                d.Files = WriteUnits(spec, dir, Force);
            }
            catch (BackupRepoException e)
            {
                (string id, ErrorCategory category) = e.ErrorInfo();
                ThrowTerminatingError(new ErrorRecord(e, id, category, dir));
            }
            string hint = $"Wrote {string.Join(" and ", d.Files)}. To enable: systemctl --user daemon-reload && systemctl --user enable --now {d.TimerFileName}";
            WriteInformation(new HostInformationMessage { Message = hint }, new[] { "PSHOST", "BackupRepo.Schedule" });
            WriteObject(d);
        }
    }
}
