using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text.Json.Nodes;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>
    /// Verify backups (Test-RepoBackup): every entry's CRC and the manifest's
    /// BLAKE3 hashes, optionally a comparison with the source folder. Never
    /// modifies an archive. A bad archive gives a non-terminating
    /// BackupRepo.VerifyFailed error and its VerifyResult (Ok = false).
    /// </summary>
    [Cmdlet(VerbsDiagnostic.Test, "RepoBackup")]
    [OutputType(typeof(VerifyResult))]
    public sealed class TestRepoBackupCommand : RepoBackupCmdlet
    {
        /// <summary>Archives. By value, and by property name Path (Get-RepoBackup), ArchivePath, FullName (Get-ChildItem).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [Alias("ArchivePath", "FullName")]
        [ValidateNotNullOrEmpty]
        public string[]? Path { get; set; }

        /// <summary>
        /// A destination of a Backup-Repo result (Backup-Repo | Select-Object -ExpandProperty
        /// Destinations): its Path is the destination folder, so its ArchivePath is taken instead.
        /// </summary>
        [Parameter(ValueFromPipeline = true, DontShow = true)]
        public BackupDestination? InputObject { get; set; }

        /// <summary>
        /// A Backup-Repo result (Backup-Repo | Test-RepoBackup): its Path is the repository,
        /// so the archives it placed (or found unchanged) are tested instead, one per destination.
        /// </summary>
        [Parameter(ValueFromPipeline = true, DontShow = true)]
        public BackupResult? BackupResult { get; set; }

        /// <summary>Also compare the archive with this folder.</summary>
        [Parameter(Position = 1)]
        [ValidateNotNullOrEmpty]
        public string? Source { get; set; }

        private string? _source;

        protected override void BeginProcessing()
        {
            if (Source != null)
            {
                _source = GetUnresolvedProviderPathFromPSPath(Source);
                if (!Directory.Exists(_source))
                {
                    ThrowTerminatingError(new ErrorRecord(new DirectoryNotFoundException($"The source folder {_source} does not exist."),
                        "BackupRepo.PathNotFound", ErrorCategory.ObjectNotFound, Source));
                }
            }
            base.BeginProcessing();
        }

        protected override void ProcessRecord()
        {
            string[] inputs;
            if (BackupResult != null)
            {
                inputs = ResultArchives(BackupResult);
                if (inputs.Length == 0)
                {
                    WriteVerbose($"{BackupResult.Repository}: no archive to test ({BackupResult.Status})");
                    return;
                }
            }
            else if (InputObject != null)
            {
                if (string.IsNullOrEmpty(InputObject.ArchivePath))
                {
                    WriteVerbose($"{InputObject.Name}: no archive to test ({InputObject.Status})");
                    return;
                }
                inputs = new[] { InputObject.ArchivePath! };
            }
            else
            {
                inputs = Path ?? Array.Empty<string>();
            }
            foreach (string input in inputs)
            {
                foreach (string archive in ResolveArchives(input, "test"))
                {
                    if (CancelRequested) return;
                    if (!TestOne(archive)) return;
                }
            }
        }

        /// <summary>The archives a Backup-Repo result placed or found unchanged, one per destination.</summary>
        internal static string[] ResultArchives(BackupResult r) => r.Destinations
            .Where(d => d.Status is DestinationStatus.Created or DestinationStatus.Skipped && !string.IsNullOrEmpty(d.ArchivePath))
            .Select(d => d.ArchivePath!)
            .Distinct()
            .ToArray();

        /// <summary>False when the command was stopped.</summary>
        private bool TestOne(string archive)
        {
            var o = new JsonObject();
            if (_source != null) o["source"] = _source;
            byte[] path = Lib.Utf8(archive);
            byte[] options = Lib.Options(o.ToJsonString());
            VerifyResult result;
            try
            {
                string json = RunWithProgress($"Test-RepoBackup {System.IO.Path.GetFileName(archive)}",
                    (BrProgressFn cb, out IntPtr r) => Lib.br_verify(path, options, cb, IntPtr.Zero, out r));
                result = HistoryJson.VerifyResult(json, _source);
            }
            catch (BackupRepoException e) when (e.Status == BrStatus.Cancelled && (CancelRequested || Stopping))
            {
                return false;
            }
            catch (BackupRepoException e) when (e.Status == BrStatus.BadArchive)
            {
                // Not even readable as a backup (not a ZIP, no manifest): a failed verification all the same.
                result = new VerifyResult { Archive = archive, Ok = false, FirstError = e.Message, Errors = new[] { e.Message }, Source = _source };
            }
            catch (BackupRepoException e)
            {
                WriteEngineError(e, archive);
                return true;
            }
            if (result.Archive.Length == 0) result.Archive = archive;
            if (!result.Ok)
            {
                WriteError(new ErrorRecord(new InvalidDataException($"Verification of {result.Archive} failed: {result.FirstError}"),
                    "BackupRepo.VerifyFailed", ErrorCategory.InvalidData, result));
            }
            else
            {
                WriteVerbose($"{result.Archive}: {result.EntriesChecked} entries OK");
            }
            if (result.SourceChanged == true)
            {
                // The archive is intact; the source moved on since. Not a failure of the archive.
                string first = string.Join("; ", result.SourceChanges.Take(3));
                string more = result.SourceChanges.Length > 3 ? $" and {result.SourceChanges.Length - 3} more" : "";
                WriteWarning($"{result.Archive}{(result.Ok ? " is intact, but" : ":")} the source {result.Source} has changed since the backup: {first}{more}");
            }
            WriteObject(result);
            return true;
        }
    }
}
