using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>
    /// Apply a retention policy on demand (Remove-RepoBackup).
    ///
    /// The engine plans (br_retention_plan: every backup of ours with keep or
    /// delete and the reasons; the newest is always kept, other files are never
    /// candidates). Each delete decision then goes through ShouldProcess on its
    /// own, so -Confirm can approve some and not others and -WhatIf lists them
    /// all; kept backups are reported with Write-Verbose. br_retention_apply
    /// deletes the whole plan at once, so it is not used: the approved files are
    /// deleted here, and only paths that are delete decisions of the plan just
    /// computed are ever deleted (taken from the plan, never from user input).
    ///
    /// Output: nothing by default, as Remove-Item; with -PassThru one
    /// RetentionDecision per backup actually deleted.
    ///
    /// Piped backups (Get-RepoBackup | Remove-RepoBackup -KeepLast 2): the rules
    /// apply within exactly the backups piped (per folder and source; the engine
    /// plans with "archives"), nothing else is a candidate; combined with
    /// -Repository, -Destination or -Path it is an error. Outside a repository,
    /// without -Repository or -Path, it is an error too: -Repository * names
    /// every repository.
    /// </summary>
    [Cmdlet(VerbsCommon.Remove, "RepoBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
    [OutputType(typeof(RetentionDecision))]
    public sealed class RemoveRepoBackupCommand : RepoBackupCmdlet
    {
        [Parameter] [ValidateRange(1, int.MaxValue)] public int KeepLast { get; set; }

        /// <summary>Keep every backup newer than this: 30d, 12h, 2w, 1y6m ...</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string? KeepWithin { get; set; }

        [Parameter] [ValidateRange(1, int.MaxValue)] public int KeepDaily { get; set; }

        [Parameter] [ValidateRange(1, int.MaxValue)] public int KeepWeekly { get; set; }

        [Parameter] [ValidateRange(1, int.MaxValue)] public int KeepMonthly { get; set; }

        [Parameter(Position = 0)]
        [ArgumentCompleter(typeof(RepositoryCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Repository { get; set; }

        [Parameter(Position = 1)]
        [ArgumentCompleter(typeof(DestinationCompleter))]
        [ValidateNotNullOrEmpty]
        public string[]? Destination { get; set; }

        /// <summary>A repository folder: its name is the repository.</summary>
        [Parameter] [ValidateNotNullOrEmpty] public string? Path { get; set; }

        /// <summary>Output one RetentionDecision per backup deleted.</summary>
        [Parameter] public SwitchParameter PassThru { get; set; }

        /// <summary>Backups from Get-RepoBackup: the rules apply within exactly these.</summary>
        [Parameter(ValueFromPipeline = true)]
        [ValidateNotNull]
        public BackupInfo[]? InputObject { get; set; }

        private readonly List<string> _piped = new List<string>();

        protected override void ProcessRecord()
        {
            foreach (BackupInfo b in InputObject ?? Array.Empty<BackupInfo>())
            {
                if (!string.IsNullOrEmpty(b.Path)) _piped.Add(b.Path);
            }
        }

        protected override void BeginProcessing()
        {
            if (KeepLast == 0 && KeepWithin == null && KeepDaily == 0 && KeepWeekly == 0 && KeepMonthly == 0)
            {
                ThrowTerminatingError(new ErrorRecord(
                    new PSArgumentException("Give at least one retention rule: -KeepLast, -KeepWithin, -KeepDaily, -KeepWeekly or -KeepMonthly."),
                    "BackupRepo.NoRetentionRule", ErrorCategory.InvalidArgument, null));
            }
            base.BeginProcessing();
        }

        private JsonObject Policy()
        {
            var p = new JsonObject();
            if (KeepLast > 0) p["keep_last"] = KeepLast;
            if (KeepWithin != null) p["keep_within"] = KeepWithin;
            if (KeepDaily > 0) p["keep_daily"] = KeepDaily;
            if (KeepWeekly > 0) p["keep_weekly"] = KeepWeekly;
            if (KeepMonthly > 0) p["keep_monthly"] = KeepMonthly;
            return p;
        }

        protected override void EndProcessing()
        {
            if (_piped.Count > 0)
            {
                // The engine refuses -Repository/-Destination with piped backups, naming the clash.
                var piped = new JsonObject { ["policy"] = Policy(), ["archives"] = new JsonArray(_piped.Select(p => (JsonNode?)p).ToArray()) };
                if (Destination != null) piped["destinations"] = Destinations(Destination);
                string? named = Repository?.FirstOrDefault() ?? (Path != null ? LeafName(GetUnresolvedProviderPathFromPSPath(Path)) : null);
                if (named != null) piped["repo"] = named;
                PlanAndCarry(piped, "the piped backups");
                return;
            }
            if (MyInvocation.ExpectingInput) return; // an empty pipeline: nothing to remove
            if (Repository == null && Path == null && !IsRepository(CurrentFolder))
            {
                ThrowTerminatingError(new ErrorRecord(
                    new PSArgumentException($"{CurrentFolder} is not a repository: name the repository with -Repository (or -Repository * for every repository), or give -Path."),
                    "BackupRepo.RepositoryRequired", ErrorCategory.InvalidArgument, CurrentFolder));
            }
            JsonArray? destinations = Destinations(Destination);
            foreach (string? repo in Repositories(Repository, Path))
            {
                if (CancelRequested) return;
                var o = new JsonObject { ["policy"] = Policy() };
                if (destinations != null) o["destinations"] = destinations.DeepClone();
                if (repo != null) o["repo"] = repo;
                PlanAndCarry(o, (object?)repo ?? "all repositories");
            }
        }

        private void PlanAndCarry(JsonObject o, object target)
        {
            byte[] options = Lib.Options(o.ToJsonString());
            List<(HistoryJson.Plan Plan, List<RetentionDecision> Decisions)> plans;
            try
            {
                plans = HistoryJson.Plans(Lib.Call((out IntPtr r) => Lib.br_retention_plan(options, out r)));
            }
            catch (BackupRepoException e)
            {
                WriteEngineError(e, target);
                return;
            }
            foreach ((HistoryJson.Plan plan, List<RetentionDecision> decisions) in plans)
            {
                if (CancelRequested) return;
                Carry(plan, decisions);
            }
        }

        private static bool InFolder(string file, string folder)
        {
            string parent = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file)) ?? "";
            string dir = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(folder));
            return string.Equals(parent, dir, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
        }

        /// <summary>Carry out one folder's plan: report the kept, delete the approved.</summary>
        private void Carry(HistoryJson.Plan plan, List<RetentionDecision> decisions)
        {
            var toDelete = new HashSet<string>(decisions.Where(d => !d.Keep).Select(d => d.Path), StringComparer.Ordinal);
            WriteVerbose($"{plan.Repository} in {plan.Destination}: {decisions.Count} backups, keep {decisions.Count - toDelete.Count}, delete {toDelete.Count}");
            foreach (RetentionDecision d in decisions)
            {
                if (CancelRequested) return;
                string reasons = string.Join(", ", d.Reasons);
                if (d.Keep)
                {
                    WriteVerbose($"Keep {d.Path} ({reasons})");
                    continue;
                }
                if (!ShouldProcess(d.Path, $"Delete backup ({reasons})")) continue;
                // Only what the plan deletes, and only inside the folder it planned.
                if (!toDelete.Contains(d.Path) || !InFolder(d.Path, plan.Destination)) continue;
                try
                {
                    File.Delete(d.Path);
                    WriteVerbose($"Deleted {d.Path}");
                    if (PassThru) WriteObject(d);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    WriteError(new ErrorRecord(new IOException($"Cannot delete {d.Path}: {e.Message}", e),
                        "BackupRepo.DeleteFailed", ErrorCategory.WriteError, d));
                }
            }
        }
    }
}
