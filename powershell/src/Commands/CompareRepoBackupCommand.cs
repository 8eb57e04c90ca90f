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
    /// What changed between two backups, from their manifests alone, or between
    /// a backup and a folder (the folder selected and hashed as a backup would
    /// be, with the stat cache). One BackupChange per added, removed or modified path.
    /// </summary>
    [Cmdlet(VerbsData.Compare, "RepoBackup", DefaultParameterSetName = BackupsSet)]
    [OutputType(typeof(BackupChange))]
    public sealed class CompareRepoBackupCommand : RepoBackupCmdlet
    {
        private const string BackupsSet = "Backups";
        private const string SourceSet = "Source";

        /// <summary>The older backup.</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = BackupsSet)]
        [ValidateNotNullOrEmpty]
        public string? ReferencePath { get; set; }

        /// <summary>The newer backup.</summary>
        [Parameter(Mandatory = true, Position = 1, ParameterSetName = BackupsSet)]
        [ValidateNotNullOrEmpty]
        public string? DifferencePath { get; set; }

        /// <summary>The backup to compare with -Source.</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = SourceSet, ValueFromPipelineByPropertyName = true)]
        [Alias("ArchivePath", "FullName")]
        [ValidateNotNullOrEmpty]
        public string? Path { get; set; }

        /// <summary>The folder (the repository as it is now).</summary>
        [Parameter(Mandatory = true, Position = 1, ParameterSetName = SourceSet)]
        [ValidateNotNullOrEmpty]
        public string? Source { get; set; }

        [Parameter(ParameterSetName = SourceSet)] public SwitchParameter IncludeBuild { get; set; }

        [Parameter(ParameterSetName = SourceSet)] [ValidateNotNull] public string[]? Exclude { get; set; }

        [Parameter(ParameterSetName = SourceSet)] [ValidateNotNull] public string[]? Include { get; set; }

        [Parameter(ParameterSetName = SourceSet)] public SwitchParameter RespectGitIgnore { get; set; }

        protected override void ProcessRecord()
        {
            var o = new JsonObject();
            string target;
            if (ParameterSetName == BackupsSet)
            {
                string? reference = ResolveArchives(ReferencePath!, "compare").FirstOrDefault();
                string? difference = ResolveArchives(DifferencePath!, "compare").FirstOrDefault();
                if (reference == null || difference == null) return;
                o["old"] = reference;
                o["new"] = difference;
                target = difference;
            }
            else
            {
                string? archive = ResolveArchives(Path!, "compare").FirstOrDefault();
                if (archive == null) return;
                string source = GetUnresolvedProviderPathFromPSPath(Source!);
                if (!Directory.Exists(source))
                {
                    WriteError(new ErrorRecord(new DirectoryNotFoundException($"The source folder {source} does not exist."),
                        "BackupRepo.PathNotFound", ErrorCategory.ObjectNotFound, Source));
                    return;
                }
                o["archive"] = archive;
                o["source"] = source;
                if (IncludeBuild) o["include_build"] = true;
                if (Exclude != null && Exclude.Length > 0) o["exclude"] = new JsonArray(Exclude.Select(x => (JsonNode?)x).ToArray());
                if (Include != null && Include.Length > 0) o["include"] = new JsonArray(Include.Select(x => (JsonNode?)x).ToArray());
                if (RespectGitIgnore) o["respect_gitignore"] = true;
                target = archive;
            }
            byte[] options = Lib.Options(o.ToJsonString());
            try
            {
                (List<BackupChange> changes, HistoryJson.Compare report) = HistoryJson.Changes(Lib.Call((out IntPtr r) => Lib.br_compare(options, out r)));
                WriteVerbose($"{report.Old} -> {report.New}: {report.Added} added, {report.Removed} removed, {report.Modified} modified, {report.Unchanged} unchanged");
                foreach (BackupChange c in changes) WriteObject(c);
            }
            catch (BackupRepoException e)
            {
                WriteEngineError(e, target);
            }
        }
    }
}
