using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TrackMulti.Api.Spool;

/// <summary>
/// fdatasync for a file: its data, and its size if that changed, survive a power cut; other metadata (times) may not,
/// which the spool never needs. .NET offers only fsync (<c>FileStream.Flush(true)</c>), so on Linux it calls libc.
/// </summary>
internal static partial class FileSync
{
    /// <summary>False where fdatasync is not available (not Linux): the caller falls back to fsync.</summary>
    public static bool TryDataToDisk(SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (Fdatasync((int)handle.DangerousGetHandle()) != 0)
            {
                throw new IOException($"fdatasync of {path} failed (errno {Marshal.GetLastPInvokeError()}).");
            }
            return true;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int Fdatasync(int fd);
}
