using System;
using System.Management.Automation;

namespace BackupRepo
{
    /// <summary>A failed engine call: the C ABI status and the engine's message (br_last_error).</summary>
    public class BackupRepoException : Exception
    {
        public Native.BrStatus Status { get; }

        public BackupRepoException(Native.BrStatus status, string message) : base(message)
        {
            Status = status;
        }

        public BackupRepoException(Native.BrStatus status, string message, Exception inner) : base(message, inner)
        {
            Status = status;
        }

        /// <summary>A stable ErrorRecord id and category for this status.</summary>
        public (string Id, ErrorCategory Category) ErrorInfo() => Status switch
        {
            Native.BrStatus.NotARepository => ("BackupRepo.NotARepository", ErrorCategory.InvalidArgument),
            Native.BrStatus.NotFound => ("BackupRepo.PathNotFound", ErrorCategory.ObjectNotFound),
            Native.BrStatus.InvalidArgument => ("BackupRepo.InvalidArgument", ErrorCategory.InvalidArgument),
            Native.BrStatus.InvalidJson => ("BackupRepo.InvalidOptions", ErrorCategory.InvalidArgument),
            Native.BrStatus.InvalidUtf8 => ("BackupRepo.InvalidArgument", ErrorCategory.InvalidArgument),
            Native.BrStatus.NullArgument => ("BackupRepo.InvalidArgument", ErrorCategory.InvalidArgument),
            Native.BrStatus.Io => ("BackupRepo.IOError", ErrorCategory.WriteError),
            Native.BrStatus.NoSpace => ("BackupRepo.NoSpace", ErrorCategory.LimitsExceeded),
            Native.BrStatus.Cancelled => ("BackupRepo.Cancelled", ErrorCategory.OperationStopped),
            Native.BrStatus.BadArchive => ("BackupRepo.BadArchive", ErrorCategory.InvalidData),
            Native.BrStatus.Busy => ("BackupRepo.Busy", ErrorCategory.ResourceBusy),
            _ => ("BackupRepo.EngineError", ErrorCategory.NotSpecified),
        };
    }

    /// <summary>The native library could not be found, loaded, or is the wrong version.</summary>
    public class BackupRepoLibraryException : Exception
    {
        public BackupRepoLibraryException(string message, Exception? inner = null) : base(message, inner) { }
    }
}
