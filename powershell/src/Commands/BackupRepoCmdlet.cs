using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Diagnostics;
using System.IO;
using System.Management.Automation;
using System.Runtime.InteropServices;
using BackupRepo.Native;

namespace BackupRepo.Commands
{
    /// <summary>
    /// Base of every cmdlet that calls the engine: loads the library (terminating
    /// error when it cannot), and runs long native calls with a progress callback
    /// that writes Write-Progress records on the pipeline thread, cancels when
    /// StopProcessing was called, and never lets an exception cross native frames.
    /// </summary>
    public abstract class BackupRepoCmdlet : PSCmdlet
    {
        private volatile bool _stopping;
        private readonly System.Threading.CancellationTokenSource _cancel = new System.Threading.CancellationTokenSource();

        /// <summary>True once Ctrl+C (StopProcessing) was requested.</summary>
        protected bool CancelRequested => _stopping;

        /// <summary>Cancelled by StopProcessing: for managed waits (HTTP, delays).</summary>
        protected System.Threading.CancellationToken CancelToken => _cancel.Token;

        protected override void BeginProcessing()
        {
            try
            {
                LibraryLoader.EnsureLoaded();
            }
            catch (BackupRepoLibraryException e)
            {
                ThrowTerminatingError(new ErrorRecord(e, "BackupRepo.LibraryNotLoaded", ErrorCategory.ResourceUnavailable, LibraryLoader.FileName));
            }
        }

        protected override void StopProcessing()
        {
            _stopping = true;
            try { _cancel.Cancel(); }
            catch (ObjectDisposedException) { }
        }

        /// <summary>What a -Path value must name.</summary>
        private protected enum PathKind { Repository, Archive }

        /// <summary>
        /// Provider paths for one -Path value: wildcards resolve, but an existing
        /// name with wildcard characters ("repo[1]", piped from Get-ChildItem) is
        /// taken literally; file system only; each must be a folder (a
        /// repository) or a file (an archive). Non-terminating errors, and
        /// nothing, otherwise. <paramref name="verb"/> words the messages.
        /// </summary>
        private protected IEnumerable<string> ResolveFileSystemPaths(string input, PathKind kind, string verb)
        {
            bool wantFolder = kind == PathKind.Repository;
            Collection<string>? resolved = null;
            ProviderInfo? provider = null;
            try
            {
                if (WildcardPattern.ContainsWildcardCharacters(input))
                {
                    string literal = SessionState.Path.GetUnresolvedProviderPathFromPSPath(input, out provider, out _);
                    if (provider.Name == "FileSystem" && (Directory.Exists(literal) || File.Exists(literal)))
                    {
                        resolved = new Collection<string> { literal };
                    }
                }
                resolved ??= GetResolvedProviderPathFromPSPath(input, out provider);
            }
            catch (ItemNotFoundException e)
            {
                string what = wantFolder ? "the path" : "the archive";
                WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot {verb} '{input}': {what} does not exist.", e),
                    "BackupRepo.PathNotFound", ErrorCategory.ObjectNotFound, input));
                return Array.Empty<string>();
            }
            catch (Exception e) when (e is System.Management.Automation.DriveNotFoundException || e is ProviderNotFoundException || e is PSArgumentException)
            {
                WriteError(new ErrorRecord(e, "BackupRepo.PathNotFound", ErrorCategory.ObjectNotFound, input));
                return Array.Empty<string>();
            }
            if (provider?.Name != "FileSystem")
            {
                string why = wantFolder ? "only file system folders can be backed up" : "backups are files in the file system";
                WriteError(new ErrorRecord(new PSArgumentException($"Cannot {verb} '{input}': {why}."),
                    "BackupRepo.NotFileSystem", ErrorCategory.InvalidArgument, input));
                return Array.Empty<string>();
            }
            var paths = new List<string>();
            foreach (string p in resolved)
            {
                if (wantFolder ? Directory.Exists(p) : File.Exists(p))
                {
                    paths.Add(p);
                }
                else if (wantFolder)
                {
                    WriteError(new ErrorRecord(new PSArgumentException($"Cannot {verb} '{p}': it is not a folder, so not a repository."),
                        "BackupRepo.NotARepository", ErrorCategory.InvalidArgument, p));
                }
                else
                {
                    WriteError(new ErrorRecord(new PSArgumentException($"Cannot {verb} '{p}': it is a folder, not a backup archive."),
                        "BackupRepo.NotAnArchive", ErrorCategory.InvalidArgument, p));
                }
            }
            return paths;
        }

        /// <summary>The native call, given the callback to pass; returns the status and the result pointer.</summary>
        private protected delegate BrStatus NativeCall(BrProgressFn callback, out IntPtr result);

        /// <summary>
        /// Run <paramref name="call"/> with progress under the parent activity
        /// <paramref name="activity"/>. Returns the result JSON; throws
        /// <see cref="BackupRepoException"/> on failure (Cancelled when stopped), or
        /// rethrows whatever the callback caught once the native call has returned.
        /// </summary>
        private protected string RunWithProgress(string activity, NativeCall call)
        {
            var progress = new ProgressBridge(this, activity);
            BrProgressFn callback = progress.Callback;
            BrStatus status;
            IntPtr result = IntPtr.Zero;
            try
            {
                status = call(callback, out result);
            }
            finally
            {
                GC.KeepAlive(callback);
            }
            progress.Complete();
            if (status == BrStatus.Cancelled && (CancelRequested || progress.PipelineStopped || Stopping))
            {
                // Ctrl+C: the engine has removed its partial files; the caller stops quietly.
                throw new BackupRepoException(BrStatus.Cancelled, "cancelled");
            }
            if (progress.Caught != null)
            {
                if (status == BrStatus.Ok) Lib.TakeString(result);
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(progress.Caught).Throw();
            }
            return Lib.Check(status, result);
        }

        /// <summary>The callback's state for one native call.</summary>
        private sealed class ProgressBridge
        {
            private static readonly string[] PhaseNames =
                { "Starting", "Selecting files", "Hashing", "Compressing", "Placing", "Verifying", "Pruning", "Restoring", "Done" };

            private readonly BackupRepoCmdlet _cmdlet;
            private readonly string _activity;
            private readonly Stopwatch _phaseClock = new Stopwatch();
            private uint _phase = uint.MaxValue;
            private bool _written;

            internal Exception? Caught { get; private set; }

            /// <summary>WriteProgress threw PipelineStoppedException: the pipeline is being stopped.</summary>
            internal bool PipelineStopped { get; private set; }

            internal ProgressBridge(BackupRepoCmdlet cmdlet, string activity)
            {
                _cmdlet = cmdlet;
                _activity = activity;
            }

            /// <summary>br_progress_fn. Runs on the pipeline thread; catches everything; non-zero cancels.</summary>
            internal int Callback(IntPtr p, IntPtr userdata)
            {
                try
                {
                    if (_cmdlet.CancelRequested) return 1;
                    if (p == IntPtr.Zero) return 0;
                    BrProgress s = Marshal.PtrToStructure<BrProgress>(p);
                    if (s.Phase != _phase)
                    {
                        _phase = s.Phase;
                        _phaseClock.Restart();
                    }
                    string phaseName = s.Phase < PhaseNames.Length ? PhaseNames[s.Phase] : "Working";
                    string current = Lib.StaticString(s.Current);

                    double fraction = s.BytesTotal > 0 ? (double)s.BytesDone / s.BytesTotal
                        : s.FilesTotal > 0 ? (double)s.FilesDone / s.FilesTotal : -1;
                    fraction = Math.Min(fraction, 1.0);
                    int percent = fraction < 0 ? -1 : (int)(fraction * 100);
                    int remaining = -1;
                    double elapsed = _phaseClock.Elapsed.TotalSeconds;
                    if (fraction > 0.01 && elapsed > 0.5)
                    {
                        remaining = (int)Math.Ceiling(elapsed / fraction * (1 - fraction));
                    }

                    // The parent: overall, the backup phases 1..6 as equal steps.
                    int step = (int)Math.Clamp(s.Phase, 1u, 6u) - 1;
                    int overall = s.Phase >= 8 ? 100 : (int)Math.Clamp((step + Math.Max(fraction, 0)) / 6 * 100, 0, 100);
                    var parent = new ProgressRecord(1, _activity, phaseName) { PercentComplete = overall };
                    _cmdlet.WriteProgress(parent);

                    string status = s.FilesTotal > 0
                        ? $"{s.FilesDone:N0} of {s.FilesTotal:N0} files, {Size(s.BytesDone)} of {Size(s.BytesTotal)}"
                        : s.FilesDone > 0 ? $"{s.FilesDone:N0} files, {Size(s.BytesDone)}" : phaseName;
                    var child = new ProgressRecord(2, phaseName, status)
                    {
                        ParentActivityId = 1,
                        PercentComplete = percent,
                        SecondsRemaining = remaining,
                    };
                    if (current.Length > 0) child.CurrentOperation = current;
                    _cmdlet.WriteProgress(child);
                    _written = true;
                    return _cmdlet.CancelRequested ? 1 : 0;
                }
                catch (PipelineStoppedException)
                {
                    PipelineStopped = true;
                    return 1;
                }
                catch (Exception e)
                {
                    Caught ??= e;
                    return 1;
                }
            }

            internal void Complete()
            {
                if (!_written || _cmdlet.CancelRequested || PipelineStopped) return;
                try
                {
                    _cmdlet.WriteProgress(new ProgressRecord(2, PhaseNames[^1], "Done") { ParentActivityId = 1, RecordType = ProgressRecordType.Completed });
                    _cmdlet.WriteProgress(new ProgressRecord(1, _activity, "Done") { RecordType = ProgressRecordType.Completed });
                }
                catch (PipelineStoppedException)
                {
                }
            }

            private static string Size(ulong bytes) => Format.Size(bytes);
        }
    }

    internal static class Format
    {
        internal static string Size(ulong bytes)
        {
            string[] units = { "B", "KB", "MB", "GB", "TB" };
            double v = bytes;
            int u = 0;
            while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
            return u == 0 ? $"{bytes} B" : string.Format(System.Globalization.CultureInfo.InvariantCulture, "{0:0.0} {1}", v, units[u]);
        }
    }
}
