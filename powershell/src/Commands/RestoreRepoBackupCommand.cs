using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>
    /// Extract a backup into a new or empty folder (Restore-RepoBackup), checking
    /// BLAKE3 hashes as it goes and restoring file times, empty folders and symbolic
    /// links (as links, never followed). Entries that would land outside the target
    /// or pass through a link, links the system will not create, and (without -Force)
    /// files that exist are refused; each refusal is a non-terminating error (so $?
    /// is false) and is listed in the result.
    /// </summary>
    [Cmdlet(VerbsData.Restore, "RepoBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
    [OutputType(typeof(RestoreResult))]
    public sealed class RestoreRepoBackupCommand : RepoBackupCmdlet
    {
        /// <summary>The archive; default the newest backup of the current folder's repository.</summary>
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
        [Alias("ArchivePath", "FullName")]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        /// <summary>The folder to restore into (created when missing; must be empty unless -Force).</summary>
        [Parameter(Mandatory = true, Position = 1)]
        [ValidateNotNullOrEmpty]
        public string? Destination { get; set; }

        /// <summary>Restore into a folder that is not empty, replacing files that exist.</summary>
        [Parameter] public SwitchParameter Force { get; set; }

        /// <summary>A Backup-Repo result (Backup-Repo | Restore-RepoBackup): the archive it placed (or found unchanged).</summary>
        [Parameter(ValueFromPipeline = true, DontShow = true)]
        public BackupResult? BackupResult { get; set; }

        private string _target = "";

        protected override void BeginProcessing()
        {
            _target = GetUnresolvedProviderPathFromPSPath(Destination!);
            base.BeginProcessing();
        }

        private bool _processed;

        protected override void ProcessRecord()
        {
            if (BackupResult != null)
            {
                _processed = true;
                string? placed = TestRepoBackupCommand.ResultArchives(BackupResult).FirstOrDefault();
                if (placed == null)
                {
                    WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot restore {BackupResult.Repository}: the run placed no archive ({BackupResult.Status})."),
                        "BackupRepo.NoBackup", ErrorCategory.ObjectNotFound, BackupResult));
                    return;
                }
                RestoreOne(placed);
                return;
            }
            if (Path == null) return; // no input: EndProcessing restores the newest backup
            _processed = true;
            foreach (string archive in ResolveArchives(Path, "restore"))
            {
                if (CancelRequested) return;
                RestoreOne(archive);
            }
        }

        protected override void EndProcessing()
        {
            if (_processed || CancelRequested) return;
            string here = CurrentFolder;
            if (!IsRepository(here))
            {
                ThrowTerminatingError(new ErrorRecord(
                    new PSArgumentException($"Give -Path (an archive, or pipe one from Get-RepoBackup): {here} is not a repository, so there is no default backup to restore."),
                    "BackupRepo.NoBackup", ErrorCategory.InvalidArgument, here));
            }
            string repo = LeafName(here);
            BackupInfo? newest = null;
            try
            {
                newest = ListBackups(null, repo, here).OrderBy(b => b.CreatedUtc).LastOrDefault();
            }
            catch (BackupRepoException e)
            {
                ThrowEngineError(e, repo);
            }
            if (newest == null)
            {
                ThrowTerminatingError(new ErrorRecord(new ItemNotFoundException($"There is no backup of {repo} in the default destinations."),
                    "BackupRepo.NoBackup", ErrorCategory.ObjectNotFound, repo));
                return;
            }
            WriteVerbose($"Restoring the newest backup of {repo}: {newest.Path}");
            RestoreOne(newest.Path);
        }

        private bool WhatIfOn => MyInvocation.BoundParameters.TryGetValue("WhatIf", out object? v)
            ? ((SwitchParameter)v).IsPresent
            : GetVariableValue("WhatIfPreference") is bool b ? b : GetVariableValue("WhatIfPreference") is SwitchParameter s && s.IsPresent;

        private void RestoreOne(string archive)
        {
            // -WhatIf asks the engine what the real run would say (dry_run checks the archive
            // and the target and writes nothing): a refusal is the real run's error, not "What if".
            bool dryRun = WhatIfOn;
            if (!dryRun && !ShouldProcess(_target, $"Restore {archive}")) return;
            byte[] path = Lib.Utf8(archive);
            byte[] target = Lib.Utf8(_target);
            var o = new JsonObject();
            if (Force) o["overwrite"] = true;
            if (dryRun) o["dry_run"] = true;
            byte[] options = Lib.Options(o.ToJsonString());
            RestoreResult result;
            try
            {
                string json = RunWithProgress($"Restore-RepoBackup {System.IO.Path.GetFileName(archive)}",
                    (BrProgressFn cb, out IntPtr r) => Lib.br_restore(path, target, options, cb, IntPtr.Zero, out r));
                result = HistoryJson.RestoreResult(json);
            }
            catch (BackupRepoException e) when (e.Status == BrStatus.Cancelled && (CancelRequested || Stopping))
            {
                return;
            }
            catch (BackupRepoException e) when (e.Status == BrStatus.InvalidArgument && !Force && NotEmpty(_target))
            {
                WriteError(new ErrorRecord(new IOException($"Cannot restore {archive} into {_target}: the folder is not empty. Use -Force to restore into it, replacing files.", e),
                    "BackupRepo.TargetNotEmpty", ErrorCategory.ResourceExists, _target));
                return;
            }
            catch (BackupRepoException e)
            {
                WriteEngineError(e, archive);
                return;
            }
            if (dryRun)
            {
                ShouldProcess(_target, $"Restore {archive}"); // prints "What if: ..."
                return;
            }
            foreach (RefusedEntry r in result.Refused)
            {
                WriteError(new ErrorRecord(new InvalidDataException($"Not restored: {r.Path}: {r.Reason}"),
                    "BackupRepo.EntryNotRestored", ErrorCategory.InvalidData, r));
            }
            WriteVerbose($"Restored {result.FilesRestored} files ({Format.Size(result.BytesRestored)}), {result.LinksRestored} symbolic links and {result.FoldersRestored} empty folders from {result.Archive} into {result.Target}");
            WriteObject(result);
        }

        private static bool NotEmpty(string folder) =>
            Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any();
    }
}
