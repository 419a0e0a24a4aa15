using System.Runtime.InteropServices;

namespace TrackMulti.Api.Spool;

/// <summary>
/// fdatasync for a file: its data, and its size if that changed, survive a power cut; other metadata (times) may not,
/// which the spool never needs. .NET offers only fsync (<c>FileStream.Flush(true)</c>), so on Linux it calls libc;
/// elsewhere it falls back to fsync.
/// </summary>
internal static partial class FileSync
{
    public static void DataToDisk(FileStream file)
    {
        if (!OperatingSystem.IsLinux())
        {
            file.Flush(flushToDisk: true);
            return;
        }
        var handle = file.SafeFileHandle;
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (Fdatasync((int)handle.DangerousGetHandle()) != 0)
            {
                throw new IOException($"fdatasync of {file.Name} failed (errno {Marshal.GetLastPInvokeError()}).");
            }
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
