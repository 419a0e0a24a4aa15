using System.Diagnostics;

namespace TrackMulti.AppHost.S3;

/// <summary>
/// Whether a container runtime answers. Aspire has no public API to ask before the app is built, and a container
/// resource without a runtime only sits in RuntimeUnhealthy, so <c>auto</c> asks the runtime's CLI directly.
/// </summary>
public static class ContainerRuntime
{
    /// <summary>Runs <c>&lt;runtime&gt; info</c>: the runtime Aspire would use (<c>ASPIRE_CONTAINER_RUNTIME</c>, default docker).</summary>
    public static bool Answers(IConfiguration configuration, TimeSpan timeout)
    {
        var cli = configuration["ASPIRE_CONTAINER_RUNTIME"] is { Length: > 0 } runtime ? runtime : "docker";
        try
        {
            using var info = Process.Start(new ProcessStartInfo(cli, "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (info is null)
            {
                return false;
            }

            // Drain output so a chatty CLI cannot block on a full pipe.
            _ = info.StandardOutput.ReadToEndAsync();
            _ = info.StandardError.ReadToEndAsync();
            if (!info.WaitForExit(timeout))
            {
                info.Kill(entireProcessTree: true);
                return false;
            }
            return info.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no such CLI on the PATH
        }
    }
}
