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

    /// <summary>A path not backed up for a reason other than a rule (FIFO, socket, unreadable, ...).</summary>
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

    /// <summary>A backup retention deleted (-KeepLast), or with -WhatIf would delete.</summary>
    public sealed class PrunedBackup
    {
        /// <summary>The destination's name (as in Destinations).</summary>
        public string Destination { get; set; } = "";
        /// <summary>The archive.</summary>
        public string Path { get; set; } = "";
        /// <summary>Local time, from the archive name.</summary>
        public DateTime Created { get; set; }
        public string[] Reasons { get; set; } = Array.Empty<string>();
        public override string ToString() => Path;
    }

    /// <summary>How many paths one rule left out.</summary>
    public sealed class ExclusionRule
    {
        public string Rule { get; set; } = "";
        public ulong Count { get; set; }
        public override string ToString() => $"{Rule}: {Count}";
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
        /// <summary>Archive size over source size, 0..1 (shown as a percentage; 0 when no archive was built).</summary>
        public double CompressionRatio { get; set; }
        public TimeSpan Duration { get; set; }
        public double DurationSeconds => Duration.TotalSeconds;
        public BackupTimings Timings { get; set; } = new BackupTimings();
        public ulong FilesHashed { get; set; }
        public ulong FilesCached { get; set; }
        public ulong EntriesReused { get; set; }
        /// <summary>Symbolic links stored as links (their targets; never followed).</summary>
        public ulong LinksStored { get; set; }
        /// <summary>Folders with nothing in them, stored so that a restore recreates them.</summary>
        public ulong FoldersStored { get; set; }
        /// <summary>
        /// When the repository's .git is a file (a linked worktree), the folder it points to:
        /// the repository's objects and refs live there, not in this backup.
        /// </summary>
        public string? LinkedGitDir { get; set; }
        public string ArchiveName { get; set; } = "";
        /// <summary>When the run started (local time; the stamp in the archive name).</summary>
        public DateTime Timestamp { get; set; }
        public DateTimeOffset StartedUtc { get; set; }
        public BackupDestination[] Destinations { get; set; } = Array.Empty<BackupDestination>();
        public string[] Warnings { get; set; } = Array.Empty<string>();
        public ExcludedPath[] Excluded { get; set; } = Array.Empty<ExcludedPath>();
        public SkippedPath[] SkippedPaths { get; set; } = Array.Empty<SkippedPath>();
        /// <summary>Files a default rule matches, kept because git tracks them (with that rule).</summary>
        public ExcludedPath[] KeptTracked { get; set; } = Array.Empty<ExcludedPath>();
        /// <summary>What the run says about its own choices (shown with -Verbose).</summary>
        public string[] Notes { get; set; } = Array.Empty<string>();
        /// <summary>The source's identity: what tells its backups from another repository's with the same folder name.</summary>
        public string SourceId { get; set; } = "";
        /// <summary>The machine that made the backup.</summary>
        public string Host { get; set; } = "";
        public VerificationResult[] Verification { get; set; } = Array.Empty<VerificationResult>();
        public RetentionResult[] Retention { get; set; } = Array.Empty<RetentionResult>();
        /// <summary>The backups -KeepLast deleted (with -WhatIf: would delete).</summary>
        public PrunedBackup[] Pruned { get; set; } = Array.Empty<PrunedBackup>();
        /// <summary>Excluded paths counted per rule, most first.</summary>
        public ExclusionRule[] ExcludedRules { get; set; } = Array.Empty<ExclusionRule>();
        /// <summary>The steps that ran (select, hash, compress, place, verify, prune).</summary>
        public string[] Steps { get; set; } = Array.Empty<string>();
        /// <summary>The metrics log the run was recorded in (null: none).</summary>
        public string? MetricsLog { get; set; }
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

        /// <summary>
        /// The engine's BackupReport as a BackupResult, read from the JSON DOM by hand:
        /// every Backup-Repo run does this once, and the serializer's object mapping
        /// (reflection or source-generated) cost ~50 ms of JIT on first use in a fresh
        /// pwsh, about half of an unchanged run beyond start-up. Names are the engine's
        /// snake_case; a missing key keeps the default, a wrong type is InvalidJson.
        /// </summary>
        internal static BackupResult ToResult(string json)
        {
            using JsonDocument doc = Parse(json);
            JsonElement r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object)
            {
                throw new BackupRepoException(Native.BrStatus.InvalidJson, "the engine returned an empty report");
            }
            ulong sourceBytes = U64(r, "source_bytes"), archiveBytes = U64(r, "archive_bytes");
            var result = new BackupResult
            {
                ToolVersion = Str(r, "tool_version") ?? "",
                Repository = Str(r, "repo") ?? "",
                Path = Str(r, "source") ?? "",
                Status = Enum<BackupStatus>(r, "status"),
                Fingerprint = Str(r, "fingerprint") ?? "",
                FileCount = U64(r, "file_count"),
                SourceBytes = sourceBytes,
                ArchiveBytes = archiveBytes,
                CompressionRatio = sourceBytes == 0 || archiveBytes == 0 ? 0 : Math.Round((double)archiveBytes / sourceBytes, 4),
                Duration = TimeSpan.FromSeconds(Dbl(r, "duration_seconds")),
                Timings = Obj(r, "timings") is JsonElement t ? new BackupTimings
                {
                    SelectSeconds = Dbl(t, "select_seconds"),
                    HashSeconds = Dbl(t, "hash_seconds"),
                    CompressSeconds = Dbl(t, "compress_seconds"),
                    PlaceSeconds = Dbl(t, "place_seconds"),
                    VerifySeconds = Dbl(t, "verify_seconds"),
                    PruneSeconds = Dbl(t, "prune_seconds"),
                } : new BackupTimings(),
                FilesHashed = U64(r, "files_hashed"),
                FilesCached = U64(r, "files_cached"),
                EntriesReused = U64(r, "entries_reused"),
                LinksStored = U64(r, "links_stored"),
                FoldersStored = U64(r, "dirs_stored"),
                LinkedGitDir = Str(r, "linked_git_dir"),
                ArchiveName = Str(r, "archive_name") ?? "",
                Destinations = Arr(r, "destinations", d => new BackupDestination
                {
                    Name = Str(d, "name") ?? "",
                    Root = Str(d, "root") ?? "",
                    Path = Str(d, "path") ?? "",
                    Status = Enum<DestinationStatus>(d, "status"),
                    Reason = Str(d, "reason"),
                    ArchivePath = Str(d, "archive_path"),
                    FreeBytes = OptU64(d, "free_bytes"),
                    TotalBytes = OptU64(d, "total_bytes"),
                    Warning = Str(d, "warning"),
                }),
                Warnings = Arr(r, "warnings", w => StrOf(w, "warnings")),
                Excluded = Arr(r, "excluded", e => new ExcludedPath { Path = Str(e, "path") ?? "", Rule = Str(e, "rule") ?? "" }),
                SkippedPaths = Arr(r, "skipped_paths", e => new SkippedPath { Path = Str(e, "path") ?? "", Reason = Str(e, "reason") ?? "" }),
                KeptTracked = Arr(r, "kept_tracked", e => new ExcludedPath { Path = Str(e, "path") ?? "", Rule = Str(e, "rule") ?? "" }),
                Notes = Arr(r, "notes", n => StrOf(n, "notes")),
                SourceId = Str(r, "source_id") ?? "",
                Host = Str(r, "host") ?? "",
                Verification = Arr(r, "verification", v => new VerificationResult
                {
                    Archive = Str(v, "archive") ?? "",
                    Ok = Bool(v, "ok"),
                    EntriesChecked = U64(v, "entries_checked"),
                    FirstError = Str(v, "first_error"),
                    Errors = Arr(v, "errors", x => StrOf(x, "errors")),
                }),
                Pruned = Arr(r, "pruned", x => new PrunedBackup
                {
                    Destination = Str(x, "destination") ?? "",
                    Path = Str(x, "path") ?? "",
                    Created = DateTime.TryParse(Str(x, "created"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out DateTime c) ? c : default,
                    Reasons = Arr(x, "reasons", y => StrOf(y, "reasons")),
                }),
                ExcludedRules = Arr(r, "excluded_rules", x => new ExclusionRule { Rule = Str(x, "rule") ?? "", Count = U64(x, "count") }),
                Steps = Arr(r, "steps", x => StrOf(x, "steps")),
                MetricsLog = Str(r, "metrics_log"),
                Retention = Arr(r, "retention", x => new RetentionResult
                {
                    Destination = Str(x, "destination") ?? "",
                    Kept = Arr(x, "decisions", d => (Keep: Bool(d, "keep"), Id: Str(d, "id") ?? "")).Where(d => d.Keep).Select(d => d.Id).ToArray(),
                    Deleted = Arr(x, "deleted", y => StrOf(y, "deleted")),
                    Errors = Arr(x, "errors", y => StrOf(y, "errors")),
                }),
            };
            string timestamp = Str(r, "timestamp") ?? "", startedUtc = Str(r, "started_utc") ?? "";
            if (DateTime.TryParseExact(timestamp, "yyyy-MM-dd_HH-mm-ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out DateTime stamp))
            {
                result.Timestamp = stamp;
            }
            if (DateTimeOffset.TryParse(startedUtc, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset started))
            {
                result.StartedUtc = started;
                if (result.Timestamp == default) result.Timestamp = started.LocalDateTime;
            }
            return result;
        }

        private static JsonDocument Parse(string json)
        {
            try
            {
                return JsonDocument.Parse(json);
            }
            catch (JsonException e)
            {
                throw new BackupRepoException(Native.BrStatus.InvalidJson, $"the engine's report is not valid JSON: {e.Message}");
            }
        }

        private static BackupRepoException WrongType(string key, JsonElement v) =>
            new BackupRepoException(Native.BrStatus.InvalidJson, $"the engine's report has '{key}' as {v.ValueKind}, not the expected type");

        /// <summary>The value at <paramref name="key"/>, or null when it is absent or JSON null.</summary>
        private static JsonElement? Get(JsonElement o, string key) =>
            o.TryGetProperty(key, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;

        private static JsonElement? Obj(JsonElement o, string key) => Get(o, key) is JsonElement v
            ? (v.ValueKind == JsonValueKind.Object ? v : throw WrongType(key, v))
            : null;

        private static string StrOf(JsonElement v, string key) =>
            v.ValueKind == JsonValueKind.String ? v.GetString()! : throw WrongType(key, v);

        private static string? Str(JsonElement o, string key) => Get(o, key) is JsonElement v ? StrOf(v, key) : null;

        private static ulong? OptU64(JsonElement o, string key) => Get(o, key) is JsonElement v
            ? (v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out ulong n) ? n : throw WrongType(key, v))
            : null;

        private static ulong U64(JsonElement o, string key) => OptU64(o, key) ?? 0;

        private static double Dbl(JsonElement o, string key) => Get(o, key) is JsonElement v
            ? (v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw WrongType(key, v))
            : 0;

        private static bool Bool(JsonElement o, string key) => Get(o, key) is JsonElement v
            ? (v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw WrongType(key, v))
            : false;

        /// <summary>A snake_case name ("would_create") as the enum member (WouldCreate).</summary>
        private static T Enum<T>(JsonElement o, string key) where T : struct, Enum
        {
            string? name = Str(o, key);
            if (name is null) return default;
            return System.Enum.TryParse(name.Replace("_", ""), ignoreCase: true, out T value) && System.Enum.IsDefined(value)
                ? value
                : throw new BackupRepoException(Native.BrStatus.InvalidJson, $"the engine's report has an unknown {key} '{name}'");
        }

        private static T[] Arr<T>(JsonElement o, string key, Func<JsonElement, T> item)
        {
            if (Get(o, key) is not JsonElement v) return Array.Empty<T>();
            if (v.ValueKind != JsonValueKind.Array) throw WrongType(key, v);
            var items = new T[v.GetArrayLength()];
            int i = 0;
            foreach (JsonElement e in v.EnumerateArray()) items[i++] = item(e);
            return items;
        }
    }
}
