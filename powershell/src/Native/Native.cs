using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace BackupRepo.Native
{
    /// <summary>The C ABI's status codes (include/backup_repo.h, br_status). Values are fixed forever.</summary>
    public enum BrStatus : uint
    {
        Ok = 0,
        NullArgument = 1,
        InvalidUtf8 = 2,
        InvalidJson = 3,
        InvalidArgument = 4,
        NotARepository = 5,
        NotFound = 6,
        Io = 7,
        NoSpace = 8,
        Cancelled = 9,
        BadArchive = 10,
        Busy = 11,
        Panic = 100,
    }

    /// <summary>br_progress: the snapshot the engine hands the callback.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct BrProgress
    {
        public uint Phase;
        public ulong FilesDone;
        public ulong FilesTotal;
        public ulong BytesDone;
        public ulong BytesTotal;
        public IntPtr Current;
    }

    /// <summary>br_progress_fn: non-zero cancels. Called only on the calling thread.</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int BrProgressFn(IntPtr progress, IntPtr userdata);

    /// <summary>
    /// The one P/Invoke surface. Strings go in as NUL-terminated UTF-8 byte
    /// arrays; result strings come back as pointers the library allocated and
    /// are copied, then freed with br_string_free. Nothing here holds logic:
    /// call, convert, map errors.
    /// </summary>
    internal static partial class Lib
    {
        internal const string Name = "backup_repo";

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr br_version();

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr br_status_name(BrStatus status);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr br_last_error();

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void br_string_free(IntPtr s);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_select(byte[] optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_fingerprint(byte[] optionsJson, BrProgressFn? cb, IntPtr userdata, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_backup(byte[] optionsJson, BrProgressFn? cb, IntPtr userdata, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_verify(byte[] archivePath, byte[] optionsJson, BrProgressFn? cb, IntPtr userdata, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_restore(byte[] archivePath, byte[] targetDir, byte[] optionsJson, BrProgressFn? cb, IntPtr userdata, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_manifest_read(byte[] archivePath, out IntPtr resultJson);

        /// <summary>
        /// Options JSON for the engine, with the environment variables it reads as
        /// this session sees them (<c>"environment"</c>, src/environment.rs): on Unix
        /// <c>$env:X</c> is invisible to native code, and the engine then reads them
        /// from here, for this call only, instead of from the process.
        /// </summary>
        internal static byte[] Options(string json)
        {
            JsonObject o = JsonNode.Parse(json) as JsonObject ?? new JsonObject();
            var environment = new JsonObject();
            foreach (string name in EnvironmentNames)
            {
                string? value = Environment.GetEnvironmentVariable(name);
                if (value != null) environment[name] = value;
            }
            o["environment"] = environment;
            return Utf8(o.ToJsonString());
        }

        /// <summary>The variables the engine reads (src/environment.rs NAMES).</summary>
        private static readonly string[] EnvironmentNames =
        {
            "BACKUP_REPO_CONFIG", "BACKUP_REPO_DESTINATIONS", "BACKUP_REPO_METRICS_DIR", "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "OneDrive",
        };

        /// <summary>NUL-terminated UTF-8.</summary>
        internal static byte[] Utf8(string s)
        {
            int n = Encoding.UTF8.GetByteCount(s);
            byte[] b = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>Copy a static or thread-local string (never freed).</summary>
        internal static string StaticString(IntPtr p) => p == IntPtr.Zero ? "" : Marshal.PtrToStringUTF8(p) ?? "";

        /// <summary>Copy a result string, then free it with the library's own free.</summary>
        internal static string? TakeString(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            try { return Marshal.PtrToStringUTF8(p); }
            finally { br_string_free(p); }
        }

        internal static string Version() => StaticString(br_version());

        /// <summary>
        /// Turn a call's status into its result JSON, or throw a
        /// <see cref="BackupRepoException"/> carrying the status and br_last_error().
        /// Frees the result string (set only on success).
        /// </summary>
        internal static string Check(BrStatus status, IntPtr result)
        {
            if (status == BrStatus.Ok)
            {
                // On failure the out-pointer is left untouched: only an OK result is ours to free.
                return TakeString(result) ?? throw new BackupRepoException(BrStatus.Panic, "the engine returned OK without a result");
            }
            string message = StaticString(br_last_error());
            if (string.IsNullOrWhiteSpace(message)) message = StaticString(br_status_name(status));
            throw new BackupRepoException(status, message);
        }
    }
}
