using System;
using System.Runtime.InteropServices;

namespace BackupRepo.Native
{
    /// <summary>
    /// History, retention on demand, compare and defaults (src/ffi/history.rs,
    /// compare.rs, config.rs). Each takes an options JSON (NULL allowed where
    /// the header says so) and returns a JSON result freed with br_string_free.
    /// </summary>
    internal static partial class Lib
    {
        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_history_list(byte[]? optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_history_summary(byte[]? optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_retention_plan(byte[] optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_retention_apply(byte[] optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_compare(byte[] optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_default_destinations(out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_config_path(out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_config_read(byte[]? optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_repository_root(byte[] optionsJson, out IntPtr resultJson);

        /// <summary>A short engine call without progress: one JSON result out.</summary>
        internal delegate BrStatus JsonCall(out IntPtr resultJson);

        /// <summary>Run <paramref name="call"/> and return its result JSON, or throw a <see cref="BackupRepoException"/>.</summary>
        internal static string Call(JsonCall call)
        {
            BrStatus status = call(out IntPtr result);
            return Check(status, result);
        }
    }
}
