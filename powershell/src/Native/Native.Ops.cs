using System;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BackupRepo.Native
{
    /// <summary>
    /// A running /metrics endpoint (br_exporter). Freeing it (Dispose or
    /// finalization) calls br_exporter_free, which stops the server and waits
    /// until its port is released.
    /// </summary>
    internal sealed class ExporterHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public ExporterHandle() : base(ownsHandle: true) { }

        protected override bool ReleaseHandle()
        {
            Lib.br_exporter_free(handle);
            return true;
        }
    }

    /// <summary>
    /// The operations surface: webhooks (br_notify_*, br_redact), scheduling
    /// (br_schedule_*) and Prometheus (br_metrics_*, br_exporter_*). The
    /// engine's defaults (br_config_path, ...) are in Native.History.cs.
    /// </summary>
    internal static partial class Lib
    {
        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_notify_payloads(byte[] reportJson, byte[] optionsJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_redact(byte[]? url, byte[]? text, out IntPtr resultText);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_schedule_export(byte[] specJson, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_schedule_write_units(byte[] specJson, byte[] folder,
            [MarshalAs(UnmanagedType.I1)] bool overwrite, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_metrics_render(byte[] logDir, out IntPtr resultText);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_metrics_write_textfile(byte[] logDir, byte[] path);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_metrics_push_payloads(byte[] logPathOrDir, byte[]? job, out IntPtr resultJson);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_exporter_start(byte[] addr, byte[] logDir, out ExporterHandle exporter);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern BrStatus br_exporter_url(ExporterHandle exporter, out IntPtr resultUrl);

        [DllImport(Name, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void br_exporter_free(IntPtr exporter);

        /// <summary>
        /// The one redaction rule (br_redact, src/notify/url.rs): with <paramref name="text"/> null, the URL
        /// for display (scheme, host, well-known path segments); else the text with the URL's secrets
        /// (user info, path tokens, query) and every other URL in it redacted. Never throws, never
        /// returns a secret: if the engine cannot answer, a placeholder.
        /// </summary>
        internal static string Redact(string? url, string? text = null)
        {
            try
            {
                return Check(br_redact(url == null ? null : Utf8(url), text == null ? null : Utf8(text), out IntPtr result), result);
            }
            catch (Exception e) when (e is BackupRepoException || e is DllNotFoundException || e is EntryPointNotFoundException)
            {
                return text == null ? "(URL hidden)" : "(message hidden: it may hold a secret)";
            }
        }

        /// <summary>For calls without a result: throw <see cref="BackupRepoException"/> unless OK.</summary>
        internal static void CheckStatus(BrStatus status)
        {
            if (status == BrStatus.Ok) return;
            string message = StaticString(br_last_error());
            if (string.IsNullOrWhiteSpace(message)) message = StaticString(br_status_name(status));
            throw new BackupRepoException(status, message);
        }
    }
}
