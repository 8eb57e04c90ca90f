using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BackupRepo
{
    /// <summary>How a run ended. <c>Planned</c> is a -WhatIf run.</summary>
    public enum BackupStatus { Created, Skipped, Partial, Failed, Planned }

    /// <summary>What happened at one destination; WouldCreate/WouldSkip are -WhatIf plans.</summary>
    public enum DestinationStatus { Created, Skipped, Failed, WouldCreate, WouldSkip }

    /// <summary>Archive compression.</summary>
    public enum CompressionMethod { Deflate, Zstd, Store }

    /// <summary>Seconds spent in each step of a run.</summary>
    public sealed class BackupTimings
    {
        public double SelectSeconds { get; set; }
        public double HashSeconds { get; set; }
        public double CompressSeconds { get; set; }
        public double PlaceSeconds { get; set; }
        public double VerifySeconds { get; set; }
        public double PruneSeconds { get; set; }

        public double TotalSeconds => SelectSeconds + HashSeconds + CompressSeconds + PlaceSeconds + VerifySeconds + PruneSeconds;

        /// <summary>(step, seconds) in run order.</summary>
        public IEnumerable<KeyValuePair<string, double>> Steps() => new[]
        {
            new KeyValuePair<string, double>("select", SelectSeconds),
            new KeyValuePair<string, double>("hash", HashSeconds),
            new KeyValuePair<string, double>("compress", CompressSeconds),
            new KeyValuePair<string, double>("place", PlaceSeconds),
            new KeyValuePair<string, double>("verify", VerifySeconds),
            new KeyValuePair<string, double>("prune", PruneSeconds),
        };

        public override string ToString() =>
            string.Join(", ", Steps().Where(s => s.Value > 0).Select(s => string.Format(CultureInfo.InvariantCulture, "{0} {1:0.###}s", s.Key, s.Value)));
    }

    /// <summary>One destination of a run.</summary>
    public sealed class BackupDestination
    {
        public string Name { get; set; } = "";
        public string Root { get; set; } = "";
        public string Path { get; set; } = "";
        public DestinationStatus Status { get; set; }
        public string? Reason { get; set; }
        public string? ArchivePath { get; set; }
        public ulong? FreeBytes { get; set; }
        public ulong? TotalBytes { get; set; }
        public string? Warning { get; set; }

        public override string ToString() => Reason is null ? $"{Name}: {Status}" : $"{Name}: {Status} ({Reason})";
    }

    /// <summary>A path a rule left out, with the rule as written.</summary>
    public sealed class ExcludedPath
    {
        public string Path { get; set; } = "";
        public string Rule { get; set; } = "";
        public override string ToString() => $"{Path} ({Rule})";
    }

    /// <summary>A path not backed up for a reason other than a rule (symlink, unreadable, ...).</summary>
    public sealed class SkippedPath
    {
        public string Path { get; set; } = "";
        public string Reason { get; set; } = "";
        public override string ToString() => $"{Path} ({Reason})";
    }

    /// <summary>The verification of one archive written (-Verify).</summary>
    public sealed class VerificationResult
    {
        public string Archive { get; set; } = "";
        public bool Ok { get; set; }
        public ulong EntriesChecked { get; set; }
        public string? FirstError { get; set; }
        public string[] Errors { get; set; } = Array.Empty<string>();
        public override string ToString() => Ok ? $"{Archive}: OK ({EntriesChecked} entries)" : $"{Archive}: FAILED ({FirstError})";
    }

    /// <summary>Retention applied to one destination (-KeepLast).</summary>
    public sealed class RetentionResult
    {
        public string Destination { get; set; } = "";
        public string[] Kept { get; set; } = Array.Empty<string>();
        public string[] Deleted { get; set; } = Array.Empty<string>();
        public string[] Errors { get; set; } = Array.Empty<string>();
        public override string ToString() => $"{Destination}: kept {Kept.Length}, deleted {Deleted.Length}";
    }

    /// <summary>The result of backing up one repository.</summary>
    public sealed class BackupResult
    {
        public string Repository { get; set; } = "";
        /// <summary>The repository folder backed up.</summary>
        public string Path { get; set; } = "";
        public BackupStatus Status { get; set; }
        public string Fingerprint { get; set; } = "";
        public ulong FileCount { get; set; }
        public ulong SourceBytes { get; set; }
        public ulong ArchiveBytes { get; set; }
        /// <summary>Archive size over source size (0 when no archive was built).</summary>
        public double CompressionRatio { get; set; }
        public TimeSpan Duration { get; set; }
        public double DurationSeconds => Duration.TotalSeconds;
        public BackupTimings Timings { get; set; } = new BackupTimings();
        public ulong FilesHashed { get; set; }
        public ulong FilesCached { get; set; }
        public ulong EntriesReused { get; set; }
        public string ArchiveName { get; set; } = "";
        /// <summary>When the run started (local time; the stamp in the archive name).</summary>
        public DateTime Timestamp { get; set; }
        public DateTimeOffset StartedUtc { get; set; }
        public BackupDestination[] Destinations { get; set; } = Array.Empty<BackupDestination>();
        public string[] Warnings { get; set; } = Array.Empty<string>();
        public ExcludedPath[] Excluded { get; set; } = Array.Empty<ExcludedPath>();
        public SkippedPath[] SkippedPaths { get; set; } = Array.Empty<SkippedPath>();
        public VerificationResult[] Verification { get; set; } = Array.Empty<VerificationResult>();
        public RetentionResult[] Retention { get; set; } = Array.Empty<RetentionResult>();
        /// <summary>The webhook messages sent for this run (-WebhookUrl); URLs redacted.</summary>
        public WebhookDelivery[] Webhooks { get; set; } = Array.Empty<WebhookDelivery>();
        public string ToolVersion { get; set; } = "";

        public override string ToString() => $"{Repository}: {Status}";
    }

    /// <summary>The engine's JSON (src/backup.rs BackupReport and friends) and its conversion to the public types.</summary>
    internal static class ReportJson
    {
        internal static readonly JsonSerializerOptions Options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            PropertyNameCaseInsensitive = true,
            Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        };

        internal sealed class Report
        {
            public string ToolVersion { get; set; } = "";
            public string Repo { get; set; } = "";
            public string Source { get; set; } = "";
            public BackupStatus Status { get; set; }
            public string Timestamp { get; set; } = "";
            public string StartedUtc { get; set; } = "";
            public string ArchiveName { get; set; } = "";
            public string Fingerprint { get; set; } = "";
            public ulong FileCount { get; set; }
            public ulong SourceBytes { get; set; }
            public ulong ArchiveBytes { get; set; }
            public double DurationSeconds { get; set; }
            public BackupTimings? Timings { get; set; }
            public ulong FilesHashed { get; set; }
            public ulong FilesCached { get; set; }
            public ulong EntriesReused { get; set; }
            public List<BackupDestination>? Destinations { get; set; }
            public List<ExcludedPath>? Excluded { get; set; }
            public List<SkippedPath>? SkippedPaths { get; set; }
            public List<VerificationResult>? Verification { get; set; }
            public List<Retention>? Retention { get; set; }
            public List<string>? Warnings { get; set; }
        }

        internal sealed class Retention
        {
            public string Destination { get; set; } = "";
            public List<Decision>? Decisions { get; set; }
            public List<string>? Deleted { get; set; }
            public List<string>? Errors { get; set; }
        }

        internal sealed class Decision
        {
            public string Id { get; set; } = "";
            public bool Keep { get; set; }
        }

        internal static BackupResult ToResult(string json)
        {
            Report r = JsonSerializer.Deserialize<Report>(json, Options)
                ?? throw new BackupRepoException(Native.BrStatus.InvalidJson, "the engine returned an empty report");
            var result = new BackupResult
            {
                ToolVersion = r.ToolVersion,
                Repository = r.Repo,
                Path = r.Source,
                Status = r.Status,
                Fingerprint = r.Fingerprint,
                FileCount = r.FileCount,
                SourceBytes = r.SourceBytes,
                ArchiveBytes = r.ArchiveBytes,
                CompressionRatio = r.SourceBytes == 0 || r.ArchiveBytes == 0 ? 0 : Math.Round((double)r.ArchiveBytes / r.SourceBytes, 4),
                Duration = TimeSpan.FromSeconds(r.DurationSeconds),
                Timings = r.Timings ?? new BackupTimings(),
                FilesHashed = r.FilesHashed,
                FilesCached = r.FilesCached,
                EntriesReused = r.EntriesReused,
                ArchiveName = r.ArchiveName,
                Destinations = (r.Destinations ?? new()).ToArray(),
                Warnings = (r.Warnings ?? new()).ToArray(),
                Excluded = (r.Excluded ?? new()).ToArray(),
                SkippedPaths = (r.SkippedPaths ?? new()).ToArray(),
                Verification = (r.Verification ?? new()).ToArray(),
                Retention = (r.Retention ?? new()).Select(x => new RetentionResult
                {
                    Destination = x.Destination,
                    Kept = (x.Decisions ?? new()).Where(d => d.Keep).Select(d => d.Id).ToArray(),
                    Deleted = (x.Deleted ?? new()).ToArray(),
                    Errors = (x.Errors ?? new()).ToArray(),
                }).ToArray(),
            };
            if (DateTime.TryParseExact(r.Timestamp, "yyyy-MM-dd_HH-mm-ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out DateTime stamp))
            {
                result.Timestamp = stamp;
            }
            if (DateTimeOffset.TryParse(r.StartedUtc, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset started))
            {
                result.StartedUtc = started;
                if (result.Timestamp == default) result.Timestamp = started.LocalDateTime;
            }
            return result;
        }
    }
}
