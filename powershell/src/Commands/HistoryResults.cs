using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using BackupRepo.Native;

namespace BackupRepo
{
    /// <summary>One backup made by BackupRepo (Get-RepoBackup).</summary>
    public sealed class BackupInfo
    {
        public string Repository { get; set; } = "";
        /// <summary>The destination's display name (desktop, n-drive, or the root folder's name).</summary>
        public string Destination { get; set; } = "";
        /// <summary>The destination root.</summary>
        public string DestinationPath { get; set; } = "";
        /// <summary>The archive.</summary>
        public string Path { get; set; } = "";
        /// <summary>Local time, from the archive name.</summary>
        public DateTime Created { get; set; }
        /// <summary>Archive size.</summary>
        public ulong Bytes { get; set; }
        public ulong FileCount { get; set; }
        /// <summary>Size of the backed-up files.</summary>
        public ulong TotalBytes { get; set; }
        public string Fingerprint { get; set; } = "";
        public string ToolVersion { get; set; } = "";
        /// <summary>When it was made (what backups are ordered by; recorded since 0.2).</summary>
        public DateTimeOffset CreatedUtc { get; set; }
        /// <summary>The folder backed up; null for a backup made before 0.2 (source unknown).</summary>
        public string? Source { get; set; }
        /// <summary>The machine that made it; null before 0.2.</summary>
        public string? Host { get; set; }
        /// <summary>The source's id: two repositories with one folder name have two.</summary>
        public string? SourceId { get; set; }

        public override string ToString() => Path;
    }

    /// <summary>How often backups were made.</summary>
    public sealed class BackupFrequency
    {
        public double SpanDays { get; set; }
        /// <summary>Backups per day over the span; null when the backups span less than a day (no extrapolation).</summary>
        public double? PerDay { get; set; }
        /// <summary>Backups per week over the span; null when the backups span less than a day.</summary>
        public double? PerWeek { get; set; }
        [System.Text.Json.Serialization.JsonPropertyName("last_7_days")]
        public ulong Last7Days { get; set; }
        [System.Text.Json.Serialization.JsonPropertyName("last_30_days")]
        public ulong Last30Days { get; set; }

        public override string ToString() => PerDay is double d
            ? string.Format(System.Globalization.CultureInfo.InvariantCulture, "{0:0.##}/day, {1:0.##}/week", d, PerWeek ?? d * 7)
            : "less than a day of backups";
    }

    /// <summary>Duplicate detection, from the metrics log: runs skipped because nothing changed.</summary>
    public sealed class DuplicateStats
    {
        public ulong Runs { get; set; }
        public ulong SkippedUnchanged { get; set; }
        public ulong Created { get; set; }
        public ulong Failed { get; set; }
        public double DuplicateRate { get; set; }

        public override string ToString() => $"{SkippedUnchanged} of {Runs} runs skipped as unchanged";
    }

    /// <summary>Files and bytes of one kind in a backup.</summary>
    public sealed class FileTypeStat
    {
        public string Category { get; set; } = "";
        public string Label { get; set; } = "";
        public ulong Files { get; set; }
        public ulong Bytes { get; set; }

        public override string ToString() => $"{Label}: {Files} files, {Commands.Format.Size(Bytes)}";
    }

    /// <summary>The backups of one repository in one destination (Get-RepoBackup -Summary).</summary>
    public sealed class BackupSummary
    {
        public string Repository { get; set; } = "";
        public string Destination { get; set; } = "";
        public string DestinationPath { get; set; } = "";
        /// <summary>The per-repository folder.</summary>
        public string Folder { get; set; } = "";
        /// <summary>The folder backed up (one summary per source); null for backups made before 0.2.</summary>
        public string? Source { get; set; }
        /// <summary>The machine that made them; null before 0.2.</summary>
        public string? Host { get; set; }
        public ulong Count { get; set; }
        public DateTime? Oldest { get; set; }
        public DateTime? Newest { get; set; }
        public string? NewestPath { get; set; }
        /// <summary>Archive bytes of all backups.</summary>
        public ulong TotalBytes { get; set; }
        public ulong AverageBytes { get; set; }
        /// <summary>Source bytes of all backups.</summary>
        public ulong SourceBytes { get; set; }
        /// <summary>Archive bytes over source bytes (below 1 is a gain); null without source bytes.</summary>
        public double? CompressionRatio { get; set; }
        public BackupFrequency Frequency { get; set; } = new BackupFrequency();
        /// <summary>Null when the repository has no metrics log.</summary>
        public DuplicateStats? Duplicates { get; set; }
        /// <summary>The newest backup's files by kind, largest first.</summary>
        public FileTypeStat[] FileTypes { get; set; } = Array.Empty<FileTypeStat>();

        public override string ToString() => $"{Repository} in {Destination}: {Count} backups";
    }

    /// <summary>What retention decided for one backup (Remove-RepoBackup).</summary>
    public sealed class RetentionDecision
    {
        public string Repository { get; set; } = "";
        /// <summary>The per-repository folder.</summary>
        public string Destination { get; set; } = "";
        /// <summary>The archive.</summary>
        public string Path { get; set; } = "";
        public DateTime Created { get; set; }
        public bool Keep { get; set; }
        /// <summary>Every rule that keeps it, or why it goes.</summary>
        public string[] Reasons { get; set; } = Array.Empty<string>();

        public override string ToString() => $"{(Keep ? "keep" : "delete")} {Path} ({string.Join(", ", Reasons)})";
    }

    /// <summary>The verification of one archive (Test-RepoBackup).</summary>
    public sealed class VerifyResult
    {
        public string Archive { get; set; } = "";
        public bool Ok { get; set; }
        public ulong EntriesChecked { get; set; }
        /// <summary>The first bad entry and why, when not Ok.</summary>
        public string? FirstError { get; set; }
        public string[] Errors { get; set; } = Array.Empty<string>();
        /// <summary>The folder compared with (-Source), if any.</summary>
        public string? Source { get; set; }
        /// <summary>
        /// With -Source: true when the source differs from the archive now (edited, added or
        /// deleted since the backup). Apart from Ok: an intact archive of an older state is Ok.
        /// </summary>
        public bool? SourceChanged { get; set; }
        /// <summary>With -Source: how the source differs from the archive.</summary>
        public string[] SourceChanges { get; set; } = Array.Empty<string>();

        public override string ToString() => Ok ? $"{Archive}: OK ({EntriesChecked} entries)" : $"{Archive}: FAILED ({FirstError})";
    }

    /// <summary>An archive entry Restore-RepoBackup did not write, and why.</summary>
    public sealed class RefusedEntry
    {
        public string Path { get; set; } = "";
        public string Reason { get; set; } = "";
        public override string ToString() => $"{Path} ({Reason})";
    }

    /// <summary>The result of one restore (Restore-RepoBackup).</summary>
    public sealed class RestoreResult
    {
        public string Archive { get; set; } = "";
        public string Target { get; set; } = "";
        public ulong FilesRestored { get; set; }
        public ulong BytesRestored { get; set; }
        /// <summary>Symbolic links recreated as links.</summary>
        public ulong LinksRestored { get; set; }
        /// <summary>Empty folders recreated.</summary>
        [System.Text.Json.Serialization.JsonPropertyName("dirs_restored")]
        public ulong FoldersRestored { get; set; }
        public RefusedEntry[] Refused { get; set; } = Array.Empty<RefusedEntry>();

        public override string ToString() => $"{Archive} -> {Target}: {FilesRestored} files";
    }

    /// <summary>How a path differs between the reference and the difference side.</summary>
    public enum ChangeKind { Added, Removed, Modified }

    /// <summary>One path that changed (Compare-RepoBackup).</summary>
    public sealed class BackupChange
    {
        public string Path { get; set; } = "";
        public ChangeKind Change { get; set; }
        /// <summary>Size in the reference backup; null when added.</summary>
        public ulong? OldSize { get; set; }
        /// <summary>Size in the difference backup or the source; null when removed.</summary>
        public ulong? NewSize { get; set; }
        /// <summary>The reference archive.</summary>
        public string Reference { get; set; } = "";
        /// <summary>The difference archive or the source folder.</summary>
        public string Difference { get; set; } = "";

        public override string ToString() => $"{Change} {Path}";
    }

    /// <summary>The engine's history, retention, verify, restore and compare JSON, and its conversion to the public types.</summary>
    internal static class HistoryJson
    {
        private static T Parse<T>(string json) where T : class =>
            JsonSerializer.Deserialize<T>(json, ReportJson.Options)
            ?? throw new BackupRepoException(BrStatus.InvalidJson, "the engine returned an empty result");

        /// <summary>The engine's civil times carry no zone: they are local.</summary>
        private static DateTime Local(DateTime t) => DateTime.SpecifyKind(t, DateTimeKind.Local);

        private static DateTime? Local(DateTime? t) => t is DateTime v ? Local(v) : null;

        internal static List<BackupInfo> Backups(string json)
        {
            List<BackupInfo> backups = Parse<List<BackupInfo>>(json);
            foreach (BackupInfo b in backups) b.Created = Local(b.Created);
            return backups;
        }

        internal static List<BackupSummary> Summaries(string json)
        {
            List<BackupSummary> summaries = Parse<List<BackupSummary>>(json);
            foreach (BackupSummary s in summaries)
            {
                s.Oldest = Local(s.Oldest);
                s.Newest = Local(s.Newest);
                // JSON null leaves these null: keep the public non-null defaults.
                s.Frequency ??= new BackupFrequency();
                s.FileTypes ??= Array.Empty<FileTypeStat>();
            }
            return summaries;
        }

        internal sealed class Decision
        {
            public string Id { get; set; } = "";
            public DateTime Created { get; set; }
            public bool Keep { get; set; }
            public List<string>? Reasons { get; set; }
        }

        internal sealed class Plan
        {
            public string Destination { get; set; } = "";
            public string DestinationName { get; set; } = "";
            public string Repository { get; set; } = "";
            public List<Decision>? Decisions { get; set; }
        }

        /// <summary>The plan per per-repository folder, decisions newest first.</summary>
        internal static List<(Plan Plan, List<RetentionDecision> Decisions)> Plans(string json) =>
            Parse<List<Plan>>(json).Select(p => (p, (p.Decisions ?? new()).Select(d => new RetentionDecision
            {
                Repository = p.Repository,
                Destination = p.Destination,
                Path = d.Id,
                Created = Local(d.Created),
                Keep = d.Keep,
                Reasons = (d.Reasons ?? new()).ToArray(),
            }).ToList())).ToList();

        internal static VerifyResult VerifyResult(string json, string? source)
        {
            VerifyResult v = Parse<VerifyResult>(json);
            v.Errors ??= Array.Empty<string>();
            v.Source = source;
            v.SourceChanges ??= Array.Empty<string>();
            v.SourceChanged = source == null ? null : v.SourceChanges.Length > 0;
            return v;
        }

        internal static RestoreResult RestoreResult(string json)
        {
            RestoreResult r = Parse<RestoreResult>(json);
            r.Refused ??= Array.Empty<RefusedEntry>();
            return r;
        }

        internal sealed class Comparison
        {
            public string Path { get; set; } = "";
            public ChangeKind Change { get; set; }
            public ulong? OldSize { get; set; }
            public ulong? NewSize { get; set; }
        }

        internal sealed class Compare
        {
            public string Old { get; set; } = "";
            public string New { get; set; } = "";
            public List<Comparison>? Changes { get; set; }
            public ulong Added { get; set; }
            public ulong Removed { get; set; }
            public ulong Modified { get; set; }
            public ulong Unchanged { get; set; }
        }

        internal static (List<BackupChange> Changes, Compare Report) Changes(string json)
        {
            Compare c = Parse<Compare>(json);
            var list = (c.Changes ?? new()).Select(x => new BackupChange
            {
                Path = x.Path,
                Change = x.Change,
                OldSize = x.OldSize,
                NewSize = x.NewSize,
                Reference = c.Old,
                Difference = c.New,
            }).ToList();
            return (list, c);
        }

        internal sealed class NamedDestination
        {
            public string Name { get; set; } = "";
            public string Path { get; set; } = "";
        }

        internal static List<NamedDestination> Destinations(string json) => Parse<List<NamedDestination>>(json);
    }
}
