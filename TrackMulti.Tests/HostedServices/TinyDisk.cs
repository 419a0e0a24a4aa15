using System.Diagnostics;

namespace TrackMulti.Tests.HostedServices;

/// <summary>
/// A small tmpfs mounted over a folder: a real disk that fills up. Needs root (CI and these machines run as root);
/// elsewhere the test using it is skipped with the reason.
/// </summary>
internal sealed class TinyDisk : IDisposable
{
    private readonly string _path;

    private TinyDisk(string path) => _path = path;

    public static TinyDisk Mount(string path, string size)
    {
        Skip.IfNot(OperatingSystem.IsLinux() && Environment.UserName == "root", "Mounting a tmpfs needs root on Linux.");
        Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", path);
        return new TinyDisk(path);
    }

    public void Dispose() => Run("umount", "-l", _path);

    private static void Run(string command, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(command, args) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', args)} failed: {error}");
        }
    }
}
